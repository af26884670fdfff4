"""The idempotent consumer against a real PostgreSQL and a real Kafka-protocol broker.

The handler under test is deliberately not idempotent (it inserts a row with a serial
id), so only ``EventConsumer`` stands between a redelivery and a double effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.consumer import EventConsumer, Handler, Handlers
from shared.db import create_engine, new_metadata, session_factory
from shared.events import Event, Payload, dlq_topic, event_type, new_event
from shared.kafka import ensure_topics, new_consumer, new_producer
from shared.messaging_tables import add_messaging_tables
from shared.settings import ServiceSettings
from tests.clock import TEST_NOW
from tests.kafka_records import Record, header, read_topic

PARTITIONS = 3
CONSUMER_NAME = "consumer-test"


class _Settings(ServiceSettings):
    service = "consumer-test"
    default_port = 0


def settings_for(bootstrap_servers: str, group_suffix: str = "") -> ServiceSettings:
    return _Settings.model_validate(
        {
            "kafka_bootstrap_servers": bootstrap_servers,
            "kafka_topic_partitions": PARTITIONS,
            "kafka_group_suffix": group_suffix,
        }
    )


class Noted(Payload):
    """A test payload: note ``seq`` about a patient."""

    patient_id: str
    seq: int

    def subject(self) -> str:
        return f"note-{self.seq}"


def noted_type(topic: str, name: str = "noted") -> type[Noted]:
    """A Noted registered under a type of its own going to ``topic`` (one per test)."""

    @event_type(f"test.consumer.{name}.{uuid.uuid4().hex}.v1", topic=topic)
    class TopicNoted(Noted):
        pass

    return TopicNoted


@dataclass
class Harness:
    """One test's database, topic, DLQ and producer."""

    bootstrap_servers: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    processed: sa.Table
    effect: sa.Table
    topic: str
    model: type[Noted]
    producer: AIOKafkaProducer
    group: str = field(default_factory=lambda: f"test-consumer-{uuid.uuid4().hex[:12]}")

    def event(
        self, seq: int, *, key: str = "patient-1", model: type[Noted] | None = None
    ) -> Event[Noted]:
        data = (model or self.model)(patient_id=key, seq=seq)
        return new_event(data, source="/tests/consumer", key=key, now=TEST_NOW)

    async def send(
        self, value: bytes | None, headers: Sequence[tuple[str, bytes]], *, key: str = "patient-1"
    ) -> None:
        await self.producer.send_and_wait(
            self.topic, key=key.encode(), value=value, headers=list(headers)
        )

    async def send_event(self, event: Event[Any]) -> None:
        await self.send(event.kafka_value(), event.kafka_headers(), key=event.key)

    def record_effect(self) -> Handler:
        """A handler that is NOT idempotent: every call inserts a new row."""
        effect = self.effect

        async def handle(session: AsyncSession, event: Event[Any]) -> None:
            await session.execute(
                sa.insert(effect).values(
                    event_id=event.id, patient_id=event.data.patient_id, seq=event.data.seq
                )
            )

        return handle

    async def effects(self, event_id: uuid.UUID | None = None) -> list[sa.Row[Any]]:
        query = sa.select(self.effect).order_by(self.effect.c.id)
        if event_id is not None:
            query = query.where(self.effect.c.event_id == event_id)
        async with self.sessions() as session:
            return list((await session.execute(query)).all())

    async def processed_ids(self) -> list[uuid.UUID]:
        async with self.sessions() as session:
            rows = await session.execute(
                sa.select(self.processed.c.event_id).where(
                    self.processed.c.consumer == CONSUMER_NAME
                )
            )
            return [row.event_id for row in rows]

    async def dead_letters(self) -> list[Record]:
        return await read_topic(self.bootstrap_servers, dlq_topic(self.topic))

    @contextlib.asynccontextmanager
    async def consuming(
        self,
        handlers: Handlers,
        *,
        max_attempts: int = 3,
        consumer: AIOKafkaConsumer | None = None,
    ) -> AsyncIterator[asyncio.Task[None]]:
        """``EventConsumer.run()`` as a task, cancelled on exit.

        By default the Kafka consumer is in the test's group with its partitions assigned
        directly (no group join to wait for); offsets are committed to the group all the same.
        """
        if consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                group_id=self.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            consumer.assign(partitions(self.topic))
        else:
            await consumer.start()
        worker = EventConsumer(
            name=CONSUMER_NAME,
            consumer=consumer,
            producer=self.producer,
            sessions=self.sessions,
            processed=self.processed,
            handlers=handlers,
            max_attempts=max_attempts,
            retry_delay=0.01,
        )
        task = asyncio.create_task(worker.run())
        try:
            yield task
        finally:
            task.cancel()
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            finally:
                await consumer.stop()


def partitions(topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in range(PARTITIONS)]


@pytest.fixture
async def harness(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Harness]:
    metadata = new_metadata()
    _outbox, processed = add_messaging_tables(metadata)
    effect = sa.Table(
        "effect",
        metadata,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    engine = create_engine(fresh_database, pool_size=5)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    topic = f"test.consumer.{uuid.uuid4().hex[:12]}"
    settings = settings_for(bootstrap_servers)
    await ensure_topics(settings, [topic, dlq_topic(topic)])
    producer = new_producer(settings)
    await producer.start()
    try:
        yield Harness(
            bootstrap_servers=bootstrap_servers,
            engine=engine,
            sessions=session_factory(engine),
            processed=processed,
            effect=effect,
            topic=topic,
            model=noted_type(topic),
            producer=producer,
        )
    finally:
        await producer.stop()
        await engine.dispose()


async def eventually(
    task: asyncio.Task[None],
    probe: Callable[[], Awaitable[bool]],
    *,
    within: float = 15.0,
    what: str,
) -> None:
    """Wait for ``probe``; a consumer task that ended meanwhile fails the test with its error."""
    deadline = asyncio.get_running_loop().time() + within
    while not await probe():
        if task.done():
            await task  # raises what killed it
            pytest.fail(f"the consumer stopped before {what}")
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


async def applied(harness: Harness, task: asyncio.Task[None], event: Event[Any]) -> None:
    """Wait until ``event``'s effect is committed."""

    async def done() -> bool:
        return bool(await harness.effects(event.id))

    await eventually(task, done, what=f"event seq={event.data.seq} to be applied")


async def test_an_event_delivered_twice_has_one_effect_and_one_processed_row(
    harness: Harness,
) -> None:
    once, twice, after = harness.event(1), harness.event(2), harness.event(3)
    handlers: Handlers = {harness.model: harness.record_effect()}
    async with harness.consuming(handlers) as task:
        # A redelivery in a later batch...
        await harness.send_event(once)
        await applied(harness, task, once)
        await harness.send_event(once)
        # ...and one in the same batch.
        await harness.send_event(twice)
        await harness.send_event(twice)
        await harness.send_event(after)
        await applied(harness, task, after)

    assert [(row.event_id, row.seq) for row in await harness.effects()] == [
        (once.id, 1),
        (twice.id, 2),
        (after.id, 3),
    ]
    assert sorted(await harness.processed_ids()) == sorted([once.id, twice.id, after.id])
    assert await harness.dead_letters() == []


async def test_records_that_are_not_valid_events_go_to_the_dlq_with_the_reason(
    harness: Harness,
) -> None:
    good = harness.event(2)
    unfit = harness.event(1)
    unfit_value = json.dumps({"patient_id": "patient-1", "seq": "first"}).encode()
    handlers: Handlers = {harness.model: harness.record_effect()}
    async with harness.consuming(handlers) as task:
        await harness.send(b'{"hello": "world"}', [("origin", b"a script")])
        await harness.send(unfit_value, unfit.kafka_headers())
        await harness.send_event(good)
        await applied(harness, task, good)

    assert [row.event_id for row in await harness.effects()] == [good.id]
    assert await harness.processed_ids() == [good.id]
    no_headers, not_fitting = await harness.dead_letters()

    assert header(no_headers, "dlq_reason") == (
        "not a CloudEvent: missing header(s) ce_id, ce_type, ce_source, ce_time"
    )
    assert no_headers.value == b'{"hello": "world"}'
    assert no_headers.key == b"patient-1"
    assert header(no_headers, "origin") == "a script"  # the original headers are kept
    assert header(no_headers, "dlq_topic") == harness.topic
    assert header(no_headers, "dlq_consumer") == CONSUMER_NAME

    reason = header(not_fitting, "dlq_reason")
    assert reason.startswith(f"{harness.model.type} payload does not validate")
    assert "seq" in reason
    assert not_fitting.value == unfit_value
    assert header(not_fitting, "ce_id") == str(unfit.id)
    assert int(header(not_fitting, "dlq_offset")) == int(header(no_headers, "dlq_offset")) + 1
    assert header(not_fitting, "dlq_partition") == header(no_headers, "dlq_partition")


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered_with_nothing_committed(
    harness: Harness,
) -> None:
    failing_model = noted_type(harness.topic, "failing")
    attempts: list[uuid.UUID] = []
    record_effect = harness.record_effect()

    async def half_then_fail(session: AsyncSession, event: Event[Any]) -> None:
        attempts.append(event.id)
        await record_effect(session, event)  # a partial effect, then the failure
        raise LookupError(f"no practitioner free for note {event.data.seq}")

    doomed = harness.event(1, model=failing_model)
    good = harness.event(2)
    handlers: Handlers = {failing_model: half_then_fail, harness.model: record_effect}
    async with harness.consuming(handlers, max_attempts=4) as task:
        await harness.send_event(doomed)
        await harness.send_event(good)
        await applied(harness, task, good)

    assert attempts == [doomed.id] * 4
    assert await harness.effects(doomed.id) == []
    assert await harness.processed_ids() == [good.id]
    [dead] = await harness.dead_letters()
    assert header(dead, "ce_id") == str(doomed.id)
    assert header(dead, "dlq_reason") == "LookupError: no practitioner free for note 1"


async def test_a_type_the_consumer_does_not_handle_is_skipped_without_dead_letter(
    harness: Harness,
) -> None:
    someone_elses = harness.event(1, model=noted_type(harness.topic, "for_another_service"))
    unregistered = harness.event(2)
    unregistered_headers = [
        (name, b"test.consumer.never_registered.v9" if name == "ce_type" else value)
        for name, value in unregistered.kafka_headers()
    ]
    good = harness.event(3)
    async with harness.consuming({harness.model: harness.record_effect()}) as task:
        await harness.send_event(someone_elses)
        await harness.send(unregistered.kafka_value(), unregistered_headers)
        await harness.send_event(good)
        await applied(harness, task, good)

    assert [row.event_id for row in await harness.effects()] == [good.id]
    assert await harness.processed_ids() == [good.id]
    assert await harness.dead_letters() == []


async def test_a_v1_event_with_a_field_the_consumer_does_not_know_is_applied(
    harness: Harness,
) -> None:
    newer = harness.event(7)
    value = json.dumps(
        {"patient_id": "patient-1", "seq": 7, "added_in_v1_1": {"channel": "whatsapp"}}
    ).encode()
    async with harness.consuming({harness.model: harness.record_effect()}) as task:
        await harness.send(value, newer.kafka_headers())
        await applied(harness, task, newer)

    [row] = await harness.effects()
    assert (row.event_id, row.patient_id, row.seq) == (newer.id, "patient-1", 7)
    assert await harness.dead_letters() == []


async def test_after_a_batch_the_group_offset_is_committed_past_the_processed_records(
    harness: Harness,
) -> None:
    suffix = f"-{uuid.uuid4().hex[:12]}"
    settings = settings_for(harness.bootstrap_servers, suffix)
    events = [harness.event(seq, key=f"patient-{seq % 3}") for seq in range(9)]
    for event in events:
        await harness.send_event(event)
    tps = partitions(harness.topic)
    checker = AIOKafkaConsumer(
        bootstrap_servers=harness.bootstrap_servers,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await checker.start()
    try:
        end = await checker.end_offsets(tps)
        assert sum(end.values()) == 9
        # The consumer the services run: subscribed, in a consumer group.
        subscribed = new_consumer(settings, [harness.topic])
        async with harness.consuming(
            {harness.model: harness.record_effect()}, consumer=subscribed
        ) as task:

            async def committed_to_the_end() -> bool:
                # (A partition no record went to has no committed offset.)
                return all([(await checker.committed(tp) or 0) == end[tp] for tp in tps])

            await eventually(task, committed_to_the_end, what="offsets to be committed")
        assert len(await harness.effects()) == 9

        # A new consumer of the group starts where the first one stopped: nothing old.
        checker.assign(tps)
        assert await checker.getmany(timeout_ms=1000) == {}
        newer = harness.event(9)
        await harness.send_event(newer)
        received = [
            record
            for batch in (await checker.getmany(timeout_ms=5000)).values()
            for record in batch
        ]
        assert [header(record, "ce_id") for record in received] == [str(newer.id)]
    finally:
        await checker.stop()


async def test_a_handler_failing_with_an_os_error_is_dead_lettered_after_max_attempts(
    harness: Harness,
) -> None:
    attempts: list[uuid.UUID] = []

    async def missing_template(session: AsyncSession, event: Event[Any]) -> None:
        attempts.append(event.id)
        raise FileNotFoundError("templates/reminder.fr.j2")

    stuck = harness.event(1)
    async with harness.consuming({harness.model: missing_template}, max_attempts=3) as task:
        await harness.send_event(stuck)

        async def dead_lettered() -> bool:
            return bool(await harness.dead_letters())

        await eventually(task, dead_lettered, within=3.0, what="the DLQ record")
    assert len(attempts) == 3


async def test_a_deeply_nested_payload_is_dead_lettered_and_the_consumer_moves_on(
    harness: Harness,
) -> None:
    nested = harness.event(1)
    depth = 5000
    value = b'{"patient_id": "patient-1", "seq": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"
    good = harness.event(2)
    async with harness.consuming({harness.model: harness.record_effect()}) as task:
        await harness.send(value, nested.kafka_headers())
        await harness.send_event(good)
        await applied(harness, task, good)
    [dead] = await harness.dead_letters()
    assert header(dead, "ce_id") == str(nested.id)
