"""The idempotent consumer: apply each event once, dead-letter what cannot be applied.

For every record: read the CloudEvent, find the handler of its type (types this
service does not handle are skipped), then in ONE database transaction record
the event id in ``processed_event`` and run the handler. A redelivered event
finds its id recorded and changes nothing. Offsets are committed to Kafka only
after the database commit.

A record that is not a valid event, or whose handler keeps failing after bounded
retries, goes to ``<topic>.dlq`` with the reason, and the consumer moves on. A
lost database connection is not the event's fault: it is retried until the
database is back rather than dead-lettered.

Each handled event is applied in a ``<topic> process`` span that continues the trace
the event carries (``ce_traceparent``, see :mod:`shared.tracing`): what the handler
writes to the outbox stays in that trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import tracing
from shared.db import is_connection_loss
from shared.events import (
    Event,
    MalformedEvent,
    Payload,
    RawEvent,
    dlq_topic,
    parse_payload,
    read_record,
)

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Event[Any]], Awaitable[None]]
Handlers = Mapping[type[Payload], Handler]

#: A commit refused because the partition is no longer this consumer's.
REVOKED = (CommitFailedError, IllegalStateError, RebalanceInProgressError, UnknownMemberIdError)
APPLIED = Counter("events_applied_total", "Events applied by a consumer", ["type"])
DUPLICATES = Counter("events_duplicate_total", "Redelivered events skipped", ["type"])
DEAD_LETTERED = Counter("events_dead_lettered_total", "Events sent to a DLQ", ["topic"])


class EventConsumer:
    """Consumes topics for one service and applies each handled event exactly once."""

    def __init__(
        self,
        *,
        name: str,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        sessions: async_sessionmaker[AsyncSession],
        processed: sa.Table,
        handlers: Handlers,
        max_attempts: int = 3,
        retry_delay: float = 0.2,
    ) -> None:
        self._name = name
        self._consumer = consumer
        self._producer = producer
        self._sessions = sessions
        self._processed = processed
        self._handlers = {model.type: (model, handler) for model, handler in handlers.items()}
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay

    async def run(self) -> None:
        """Consume until cancelled."""
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=500)
            for partition, records in batches.items():
                for record in records:
                    if partition not in self._consumer.assignment():
                        break  # revoked meanwhile: its new owner reads on from our commit
                    await self.handle(record)
                else:
                    await self._commit(partition, records[-1].offset + 1)

    async def _commit(self, partition: TopicPartition, offset: int) -> None:
        try:
            await self._consumer.commit({partition: offset})
        except REVOKED as error:
            # A rebalance took the partition while the batch was applied (another replica
            # joined or left). Its new owner starts from the last commit: what this one
            # applied since comes again and is skipped as a duplicate. Nothing is lost.
            log.info("%s moved to another consumer before its commit (%s)", partition, error)

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Apply one record, or dead-letter it with the reason."""
        try:
            raw = read_record(record.key, record.value, record.headers)
        except MalformedEvent as error:
            await self._dead_letter(record, str(error))
            return
        entry = self._handlers.get(raw.type)
        if entry is None:
            return  # not for this service, or a version it does not know
        with tracing.processing(
            raw, topic=record.topic, partition=record.partition, offset=record.offset,
            group=self._name,
        ):  # fmt: skip
            await self._apply_with_retries(record, raw, *entry)

    async def _apply_with_retries(
        self,
        record: ConsumerRecord[bytes, bytes],
        raw: RawEvent,
        model: type[Payload],
        handler: Handler,
    ) -> None:
        try:
            event = parse_payload(raw, model)
        except MalformedEvent as error:
            await self._dead_letter(record, str(error))
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                applied = await self._apply(event, handler)
            except Exception as error:
                if is_connection_loss(error):  # not the event's fault: never dead-letter
                    log.warning("database unreachable; retrying %s", raw.type)
                    await asyncio.sleep(min(self._retry_delay * 2**attempt, 5.0))
                    continue
                if attempt < self._max_attempts:
                    await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
                    continue
                log.exception("giving up on %s %s after %d attempts", raw.type, raw.id, attempt)
                await self._dead_letter(record, f"{type(error).__name__}: {error}")
                return
            (APPLIED if applied else DUPLICATES).labels(raw.type).inc()
            return

    async def _apply(self, event: Event[Any], handler: Handler) -> bool:
        async with self._sessions() as session, session.begin():
            first_time = await session.scalar(
                insert(self._processed)
                .values(consumer=self._name, event_id=event.id, type=event.type)
                .on_conflict_do_nothing()
                .returning(self._processed.c.event_id)
            )
            if first_time is None:
                return False
            await handler(session, event)
        return True

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        topic = dlq_topic(record.topic)
        headers = [
            *(record.headers or []),
            ("dlq_reason", reason[:2000].encode()),
            ("dlq_consumer", self._name.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
        ]
        tracing.failed(f"dead-lettered: {reason}")
        log.error(
            "dead-lettered a record",
            extra={"dlq": topic, "offset": record.offset, "reason": reason[:300]},
        )
        # The offset moves on only once the record is safe in the DLQ.
        while True:
            try:
                await self._producer.send_and_wait(
                    topic, key=record.key, value=record.value, headers=headers
                )
                break
            except Exception:
                log.exception("cannot publish to %s; retrying", topic)
                await asyncio.sleep(1.0)
        DEAD_LETTERED.labels(record.topic).inc()
