"""booking's own workers, beside every service's relay, consumer and pruner: the hold
sweeper (``sweep``), a ``shared.periodic.Periodic``."""

from __future__ import annotations

from collections.abc import Callable

from booking.settings import BookingSettings
from booking.workers.sweeper import SWEEP, sweeper
from shared.service import Runtime, Worker

#: The workers ``python -m booking <name>`` runs, by name.
WORKERS: dict[str, Callable[[Runtime[BookingSettings]], Worker]] = {SWEEP: sweeper}
