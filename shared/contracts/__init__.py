"""The wire contracts: every event payload, one definition for producer and consumer.

Importing this package registers every type with :mod:`shared.events`.
"""

from shared.contracts import booking, notify, plans

__all__ = ["booking", "notify", "plans"]
