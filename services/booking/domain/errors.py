"""Why booking's rules refuse a change: domain exceptions, free of HTTP and Kafka.

Each edge decides what a refusal means there, in one place: the API maps each
family to problem+json (booking.app: 404, 409 and 422), the consumers treat a refusal of an
event's effect as settled (shared.consumer: a refusal is not worth a retry, and the
event is not malformed, so it is never dead-lettered).
"""

from __future__ import annotations

from typing import Any


class BookingRefused(Exception):
    """A rule refused the change: ``detail`` says why, ``facts`` what is involved."""

    def __init__(self, detail: str, /, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.facts = facts


class Unknown(BookingRefused):
    """What the change names does not exist (or is not the caller's to see)."""


class StateConflict(BookingRefused):
    """What is asked clashes with how things stand now (a status, a version, a time
    someone took): another moment, or another choice, may do."""


class UnsuitableChoice(BookingRefused):
    """What is asked breaks a rule of the clinic whatever the moment (outside a window or
    the hours, a practitioner who does not treat the indication...)."""
