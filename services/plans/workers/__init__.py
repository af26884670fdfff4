"""plans' own workers: none. It runs every service's relay, consumer and pruner
(``shared.service``) only."""

from __future__ import annotations

from collections.abc import Callable

from plans.settings import PlansSettings
from shared.service import Runtime, Worker

#: The workers ``python -m plans <name>`` runs, by name, beside the shared ones.
WORKERS: dict[str, Callable[[Runtime[PlansSettings]], Worker]] = {}
