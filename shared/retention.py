"""Forgetting what the messaging no longer needs, so the tables do not grow forever.

Published outbox rows, the ids of processed events and (where a service keeps them)
idempotency keys are deleted once older than ``RETENTION_DAYS`` (14 by default: longer
than the broker keeps events, 7 days, so a replay or a redelivery never outlives the
record that makes it harmless). Rows go in batches, each in a transaction of its own, so
pruning never holds long locks. An outbox row not yet published is never deleted.

Age is measured on the database's clock, which stamped the rows: moving the services'
clock (the demo's time travel, the tests' pinned instants) forgets nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.periodic import Periodic


@dataclass(frozen=True)
class Retained:
    """A table whose rows are forgotten once ``column`` (a time) is older than the cut."""

    table: sa.Table
    column: str


async def prune_batch(session: AsyncSession, retained: Retained, *, days: int, limit: int) -> int:
    """Delete up to ``limit`` rows of ``retained`` older than ``days``; how many went."""
    before = sa.func.now() - sa.func.make_interval(0, 0, 0, days)
    table, column = retained.table, retained.table.c[retained.column]
    old: sa.Select[Any] = (
        sa.select(sa.literal_column("ctid")).select_from(table).where(column < before)
    )
    result = await session.execute(
        sa.delete(table).where(sa.literal_column("ctid").in_(old.limit(limit).scalar_subquery()))
    )
    return int(getattr(result, "rowcount", 0) or 0)


class Pruner(Periodic):
    """The ``prune`` worker: every ``interval`` seconds, batches until nothing is old."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retained: Sequence[Retained],
        *,
        days: int,
        batch_size: int,
        interval: float,
    ) -> None:
        super().__init__(interval=interval)
        self._sessions, self._retained = sessions, retained
        self._days, self._batch_size = days, batch_size
        self.done = f"pruned %d rows older than {days} days"

    async def prune_once(self) -> int:
        """Delete everything older than the retention period; how many rows went."""
        total = 0
        for retained in self._retained:
            while True:
                async with self._sessions.begin() as session:
                    gone = await prune_batch(
                        session, retained, days=self._days, limit=self._batch_size
                    )
                total += gone
                if gone < self._batch_size:
                    break
        return total

    one_pass = prune_once
