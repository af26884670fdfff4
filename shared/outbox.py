"""Transactional outbox: an event commits with the state change that caused it.

Use cases call :func:`add_events` inside their transaction. The
:class:`OutboxRelay` publishes committed rows to Kafka and marks them published.
If the broker or the process dies in between, the rows stay unpublished and are
sent again later: delivery is at least once, and consumers are idempotent.

Each row keeps the trace context of the span that wrote it; the relay publishes the
event in a span of that trace and sends the trace on as ``ce_traceparent``
(:mod:`shared.tracing`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared import tracing
from shared.db import transaction
from shared.events import Event, kafka_headers
from shared.periodic import Periodic

log = logging.getLogger(__name__)

#: PostgreSQL channel a commit with new outbox rows notifies, to wake relays at once.
CHANNEL = "mesocycle_outbox"
#: The advisory lock spaces (the first key of PostgreSQL's two-key locks) of a key's
#: writers and of the relays publishing it: apart, so neither waits for the other.
WRITERS, RELAYS = 1, 2

PUBLISHED = Counter("outbox_published_total", "Events published from the outbox", ["topic"])
RELAY_FAILURES = Counter("outbox_relay_failures_total", "Failed outbox publish batches")
#: Seconds a relay waits after a failed batch, doubling up to the most.
INITIAL_BACKOFF, MAX_BACKOFF = 0.5, 10.0


def outbox_row(event: Event[Any]) -> dict[str, Any]:
    """An event as an outbox table's row, in the trace of the current span."""
    return {
        **tracing.trace_context(),
        "event_id": event.id,
        "topic": event.topic,
        "key": event.key,
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "time": event.time,
        "data": event.data.model_dump(mode="json"),
    }


async def add_events(session: AsyncSession, outbox: sa.Table, events: Iterable[Event[Any]]) -> None:
    """Stage events in the caller's transaction; they are published after it commits."""
    rows = [outbox_row(event) for event in events]
    if not rows:
        return
    # Writers of one key take turns until commit, so a key's committed rows always come
    # before its uncommitted ones in id order: the relay may publish what it sees. Their
    # lock space is not the relays' (see _claim): a write never waits for a publish.
    # One statement for all the keys, always in the same (sorted) order: no deadlock.
    await session.execute(
        sa.text(
            f"SELECT count(pg_advisory_xact_lock({WRITERS}, hashtext(k)))"  # noqa: S608
            " FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS t(k, n)"
        ),
        {"keys": sorted({row["key"] for row in rows})},
    )
    await session.execute(sa.insert(outbox), rows)
    # Delivered at commit only, and never if the transaction rolls back.
    await session.execute(sa.text(f"NOTIFY {CHANNEL}"))


async def replay(session: AsyncSession, outbox: sa.Table, *, since: datetime) -> int:
    """Hand every event of this outbox from ``since`` on (event time) to the relay again:
    after the broker lost its log, or for a consumer restored from a backup. Safe, since
    consumers skip what they have applied; one key's events keep their order (the relay
    publishes by id). Returns how many events will be published again."""
    replayed = await session.execute(
        sa.update(outbox)
        .where(outbox.c.time >= since, outbox.c.published_at.is_not(None))
        .values(published_at=None)
    )
    await session.execute(sa.text(f"NOTIFY {CHANNEL}"))
    count: int = replayed.rowcount  # type: ignore[attr-defined]
    return count


def _claim(outbox: sa.Table) -> str:
    """Up to $1 unpublished rows, oldest first, each with its payload as JSON text.

    SKIP LOCKED lets several relays share the work; the advisory lock on the key (in the
    relays' own lock space, held while the batch is sent) keeps one patient's events on
    one relay at a time, so they stay in order, without holding up writers."""
    return (
        "SELECT id, event_id, topic, key, type, source, subject, time, traceparent,"  # noqa: S608
        f" tracestate, data::text AS data FROM {outbox.name} WHERE published_at IS NULL"
        f" AND pg_try_advisory_xact_lock({RELAYS}, hashtext(key))"
        " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
    )


class OutboxRelay(Periodic):
    """Publishes committed outbox rows to Kafka, in order per key; safe to run N of."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: sa.Table,
        producer: AIOKafkaProducer,
        *,
        listen_dsn: str | None = None,
        topic_prefix: str = "",
        batch_size: int = 500,
        poll_interval: float = 1.0,
        linger: float = 0.0,
    ) -> None:
        super().__init__(interval=poll_interval, full=batch_size, linger=linger)
        self._engine = engine
        self._topic_prefix = topic_prefix
        self._claim = _claim(outbox)
        # (Constants only: the table's own name.)
        self._mark = f"UPDATE {outbox.name} SET published_at = now() WHERE id = ANY($1::bigint[])"  # noqa: S608
        self._producer = producer
        self._listen_dsn = listen_dsn
        self._batch_size = batch_size
        self._listener: asyncpg.Connection | None = None
        self._backoff = INITIAL_BACKOFF

    async def publish_batch(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published.

        Plain statements in a pooled transaction (``shared.db.transaction``): a pass is
        two statements, and the payload goes to the broker as the database wrote it."""
        async with transaction(self._engine) as db:
            driver = await db.connection()
            rows = await driver.fetch(self._claim, self._batch_size)
            if not rows:
                return 0
            sends = [await self._send(row) for row in rows]
            await asyncio.gather(*sends)
            await driver.execute(self._mark, [row["id"] for row in rows])
        for row in rows:
            PUBLISHED.labels(row["topic"]).inc()
        return len(rows)

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
        """Hand one row to the producer; the future resolves once the broker has it."""
        topic = self._topic_prefix + row["topic"]
        with tracing.publishing(
            topic, event_id=row["event_id"], event_type=row["type"],
            traceparent=row["traceparent"], tracestate=row["tracestate"],
        ) as trace_context:  # fmt: skip
            sent: asyncio.Future[Any] = await self._producer.send(
                topic,
                key=row["key"].encode(),
                value=row["data"].encode(),
                headers=kafka_headers(
                    id=row["event_id"],
                    source=row["source"],
                    type=row["type"],
                    time=row["time"],
                    subject=row["subject"],
                    traceparent=trace_context.get("traceparent"),
                    tracestate=trace_context.get("tracestate"),
                ),
            )
        return sent

    async def run(self) -> None:
        """Publish until cancelled: ``linger`` seconds after a commit notifies (one pass
        then takes the commits of that moment, not each its own), else every poll
        interval."""
        self._listener = await self._listen()
        try:
            await super().run()
        finally:
            if self._listener is not None:
                await self._listener.close()

    async def one_pass(self) -> int:
        try:
            published = await self.publish_batch()
        except Exception:
            RELAY_FAILURES.inc()
            log.exception("outbox publish failed; retrying in %.1fs", self._backoff)
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            return self._batch_size  # as after a whole batch: again at once
        self._backoff = INITIAL_BACKOFF
        if self._listener is not None and self._listener.is_closed():
            # The database restarted meanwhile: listen again (till then, polling found
            # the commits).
            self._listener = await self._listen()
        return published

    async def _listen(self) -> asyncpg.Connection | None:
        if self._listen_dsn is None:
            return None
        try:
            connection = await asyncpg.connect(self._listen_dsn)
            await connection.add_listener(CHANNEL, lambda *_: self.wake())
        except (OSError, asyncpg.PostgresError):
            log.warning("outbox relay cannot LISTEN; polling only")
            return None
        return connection
