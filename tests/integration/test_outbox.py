"""The transactional outbox against a real PostgreSQL and a real Kafka-protocol broker.

An event staged with ``add_events`` is published by ``OutboxRelay`` only once its
transaction commits, with the CloudEvents headers and the patient id as key, in
order per key; a broker outage loses nothing; N relays share the work without
publishing a row twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from devstack.kafka import apache_kafka
from devstack.ports import free_port
from shared.db import create_engine, new_metadata, session_factory, transaction
from shared.events import Event, Payload, event_type, new_event, parse_payload, read_record
from shared.kafka import ensure_topics, new_producer
from shared.messaging_tables import add_messaging_tables
from shared.outbox import OutboxRelay, _claim, add_events
from shared.settings import ServiceSettings
from tests.clock import TEST_NOW
from tests.kafka_records import Record, header, read_topic
from tests.polling import eventually

PARTITIONS = 3
SOURCE = "/tests/outbox"


class _Settings(ServiceSettings):
    service = "outbox-test"
    default_port = 0


def settings_for(bootstrap_servers: str) -> ServiceSettings:
    return _Settings.model_validate(
        {"kafka_bootstrap_servers": bootstrap_servers, "kafka_topic_partitions": PARTITIONS}
    )


class Step(Payload):
    """A test payload: step ``seq`` of a patient's story."""

    patient_id: str
    seq: int
    note: str = ""

    def subject(self) -> str:
        return f"step-{self.seq}"


def step_type(topic: str) -> type[Step]:
    """A Step registered under a type of its own going to ``topic`` (one per test)."""

    @event_type(f"test.outbox.step.{uuid.uuid4().hex}.v1", topic=topic)
    class TopicStep(Step):
        pass

    return TopicStep


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox: sa.Table
    listen_dsn: str


@dataclass(frozen=True)
class Stream:
    topic: str
    model: type[Step]

    def event(self, key: str, seq: int, *, now: datetime | None = None) -> Event[Step]:
        data = self.model(patient_id=key, seq=seq, note=f"{key}/{seq}")
        return new_event(data, source=SOURCE, key=key, now=now or TEST_NOW)


@pytest.fixture
async def db(fresh_database: str) -> AsyncIterator[Database]:
    metadata = new_metadata()
    outbox, _processed = add_messaging_tables(metadata)
    engine = create_engine(fresh_database, pool_size=5)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    dsn = make_url(fresh_database).set(drivername="postgresql")
    yield Database(
        engine, session_factory(engine), outbox, dsn.render_as_string(hide_password=False)
    )
    await engine.dispose()


async def new_stream(bootstrap_servers: str) -> Stream:
    topic = f"test.outbox.{uuid.uuid4().hex[:12]}"
    await ensure_topics(settings_for(bootstrap_servers), [topic])
    return Stream(topic, step_type(topic))


@pytest.fixture
async def stream(bootstrap_servers: str) -> Stream:
    return await new_stream(bootstrap_servers)


@pytest.fixture
async def producer(bootstrap_servers: str) -> AsyncIterator[AIOKafkaProducer]:
    """The producer the services use (acks=all), on the session's broker."""
    kafka = new_producer(settings_for(bootstrap_servers))
    await kafka.start()
    yield kafka
    await kafka.stop()


def sequences(records: Sequence[Record]) -> dict[str, list[int]]:
    """Per key, the seq of its records in the order they are on the topic."""
    by_key: dict[str, list[int]] = {}
    for record in records:
        assert record.key is not None
        by_key.setdefault(record.key.decode(), []).append(json.loads(record.value)["seq"])
    return by_key


async def stage(db: Database, events: Sequence[Event[Any]]) -> None:
    """Stage ``events`` in one transaction that commits."""
    async with db.sessions.begin() as session:
        await add_events(session, db.outbox, events)


async def unpublished(db: Database) -> int:
    async with db.sessions() as session:
        query = sa.select(sa.func.count()).where(db.outbox.c.published_at.is_(None))
        return int(await session.scalar(query) or 0)


async def outbox_rows(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(db.outbox)) or 0)


@contextlib.asynccontextmanager
async def running(*relays: OutboxRelay) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Relays running ``run()`` as tasks, cancelled on exit; a relay that died fails the test."""
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_committed_events_are_published_with_cloudevents_headers_and_marked_published(
    db: Database, stream: Stream, producer: AIOKafkaProducer, bootstrap_servers: str
) -> None:
    patient = str(uuid.uuid4())
    # A non-UTC offset: the relay reads the time back from PostgreSQL.
    now = datetime(2026, 11, 24, 22, 18, 49, 654321, tzinfo=timezone(timedelta(hours=1)))
    events = [stream.event(patient, seq, now=now) for seq in range(3)]
    await stage(db, events)
    relay = OutboxRelay(db.engine, db.outbox, producer)

    assert await relay.publish_batch() == 3
    assert await relay.publish_batch() == 0

    records = await read_topic(bootstrap_servers, stream.topic)
    assert len(records) == 3
    for record, event in zip(records, events, strict=True):
        assert record.key == patient.encode()
        assert header(record, "ce_id") == str(event.id)
        assert header(record, "ce_type") == stream.model.type
        assert header(record, "ce_source") == SOURCE
        assert header(record, "ce_specversion") == "1.0"
        assert header(record, "ce_subject") == f"step-{event.data.seq}"
        assert datetime.fromisoformat(header(record, "ce_time")) == now
        assert json.loads(record.value) == event.data.model_dump(mode="json")
        # What a consumer reads back is the event that was staged.
        raw = read_record(record.key, record.value, record.headers)
        assert parse_payload(raw, stream.model) == event
    async with db.sessions() as session:
        rows = (await session.execute(sa.select(db.outbox))).all()
    assert {row.event_id for row in rows} == {event.id for event in events}
    assert all(row.published_at is not None for row in rows)


async def test_events_of_a_transaction_that_rolls_back_are_never_published(
    db: Database, stream: Stream, producer: AIOKafkaProducer, bootstrap_servers: str
) -> None:
    patient = str(uuid.uuid4())
    doomed = [stream.event(patient, 0), stream.event(patient, 1)]
    kept = stream.event(patient, 2)

    async def stage_then_fail() -> None:
        async with db.sessions.begin() as session:
            await add_events(session, db.outbox, doomed)
            raise RuntimeError("the use case failed after staging its events")

    with pytest.raises(RuntimeError, match="use case failed"):
        await stage_then_fail()
    await stage(db, [kept])
    relay = OutboxRelay(db.engine, db.outbox, producer)

    assert await relay.publish_batch() == 1
    assert await relay.publish_batch() == 0

    records = await read_topic(bootstrap_servers, stream.topic)
    assert [header(record, "ce_id") for record in records] == [str(kept.id)]
    assert await outbox_rows(db) == 1


async def test_events_of_one_key_are_published_in_commit_order_across_batches(
    db: Database, stream: Stream, producer: AIOKafkaProducer, bootstrap_servers: str
) -> None:
    keys = [str(uuid.uuid4()) for _ in range(3)]
    # 12 transactions one after the other, each staging the next step of two patients.
    for step in range(12):
        pair = [keys[step % 3], keys[(step + 1) % 3]]
        await stage(db, [stream.event(key, step) for key in pair])
    relay = OutboxRelay(db.engine, db.outbox, producer, batch_size=5)

    batches = []
    while published := await relay.publish_batch():
        batches.append(published)

    assert batches == [5, 5, 5, 5, 4]
    records = await read_topic(bootstrap_servers, stream.topic)
    assert len(records) == 24
    expected = {
        key: [s for s in range(12) if key in (keys[s % 3], keys[(s + 1) % 3])] for key in keys
    }
    assert sequences(records) == expected
    assert await unpublished(db) == 0


async def test_writers_of_one_key_take_turns_so_publication_follows_commit_order(
    db: Database, stream: Stream, producer: AIOKafkaProducer, bootstrap_servers: str
) -> None:
    patient = str(uuid.uuid4())
    committed: list[int] = []
    first_staged = asyncio.Event()

    async def first() -> None:
        async with db.sessions() as session:
            async with session.begin():
                await add_events(session, db.outbox, [stream.event(patient, 0)])
                first_staged.set()
                await asyncio.sleep(0.5)  # the second writer tries meanwhile
            committed.append(0)

    async def second() -> None:
        await first_staged.wait()
        async with db.sessions() as session:
            async with session.begin():
                await add_events(session, db.outbox, [stream.event(patient, 1)])
            committed.append(1)

    await asyncio.wait_for(asyncio.gather(first(), second()), timeout=10)
    relay = OutboxRelay(db.engine, db.outbox, producer)
    assert await relay.publish_batch() == 2

    records = await read_topic(bootstrap_servers, stream.topic)
    assert committed == [0, 1]
    assert sequences(records) == {patient: committed}


async def test_a_commit_wakes_a_listening_relay_without_waiting_for_the_poll(
    db: Database, stream: Stream, producer: AIOKafkaProducer
) -> None:
    relay = OutboxRelay(
        db.engine, db.outbox, producer, listen_dsn=db.listen_dsn, poll_interval=60.0
    )
    async with running(relay) as tasks:
        await asyncio.sleep(0.5)  # the relay has found nothing and sleeps on LISTEN
        await stage(db, [stream.event(str(uuid.uuid4()), 0)])

        async def published() -> bool:
            assert not tasks[0].done(), "the relay stopped"
            return await unpublished(db) == 0

        await eventually(published, within=5.0, what="the NOTIFY to wake the relay")


async def test_a_woken_relay_lingers_and_publishes_the_commits_of_that_moment_in_one_pass(
    db: Database, stream: Stream, producer: AIOKafkaProducer
) -> None:
    """Three commits 0.05 s apart: a relay lingering 1 s after the first wake-up takes all
    three in one pass (one transaction marks them: one published_at). Without the linger
    it publishes the first alone, before the others commit."""
    relay = OutboxRelay(
        db.engine, db.outbox, producer, listen_dsn=db.listen_dsn, poll_interval=60.0,
        linger=1.0,
    )  # fmt: skip
    async with running(relay):
        await asyncio.sleep(0.5)  # the relay has found nothing and sleeps on LISTEN
        for step in range(3):
            await stage(db, [stream.event(str(uuid.uuid4()), step)])
            await asyncio.sleep(0.05)
        await eventually(
            lambda: _equals(unpublished(db), 0), within=5.0, what="the three published"
        )
    async with db.sessions() as session:
        passes = await session.scalar(
            sa.select(sa.func.count(sa.distinct(db.outbox.c.published_at)))
        )
    assert passes == 1


async def _equals(count: Awaitable[int], expected: int) -> bool:
    return await count == expected


async def test_a_broker_outage_fails_the_publish_keeps_the_rows_and_loses_nothing(
    db: Database, tmp_path: Path
) -> None:
    # A broker of this test's own, stopped and started again on its data and port.
    port = free_port()
    broker = apache_kafka(tmp_path / "kafka", tmp_path, port=port)
    servers = await asyncio.to_thread(broker.__enter__)
    running_broker: contextlib.AbstractContextManager[str] | None = broker
    kafka = AIOKafkaProducer(
        bootstrap_servers=servers,
        acks="all",
        linger_ms=5,
        request_timeout_ms=1000,
        retry_backoff_ms=50,
        # Idle connections close, so the broker stops at once when asked (no drain wait).
        connections_max_idle_ms=300,
    )
    try:
        stream = await new_stream(servers)
        await kafka.start()
        relay = OutboxRelay(db.engine, db.outbox, kafka, poll_interval=0.05)
        before = stream.event("before-outage", 0)
        await stage(db, [before])
        assert await relay.publish_batch() == 1

        await asyncio.sleep(0.6)  # the producer's idle connections close meanwhile
        await asyncio.to_thread(broker.__exit__, None, None, None)
        running_broker = None
        keys = [str(uuid.uuid4()) for _ in range(2)]
        staged = [stream.event(key, seq) for seq in range(3) for key in keys]
        await stage(db, staged[:4])
        await stage(db, staged[4:])

        with pytest.raises(KafkaError):
            async with asyncio.timeout(15):
                await relay.publish_batch()
        assert await unpublished(db) == 6

        # The broker answers again on that port, with its topics and records.
        broker = apache_kafka(tmp_path / "kafka", tmp_path, port=port)
        assert await asyncio.to_thread(broker.__enter__) == servers
        running_broker = broker
        async with running(relay) as tasks:

            async def drained() -> bool:
                assert not tasks[0].done(), "the relay stopped"
                return await unpublished(db) == 0

            await eventually(drained, within=20.0, what="the relay to publish after the outage")

        # The record published before the outage is still there, once; the rest follows.
        records = await read_topic(servers, stream.topic)
        assert sorted(header(record, "ce_id") for record in records) == sorted(
            str(event.id) for event in [before, *staged]
        )
        assert sequences(records) == {"before-outage": [0]} | {key: [0, 1, 2] for key in keys}
    finally:
        await kafka.stop()
        if running_broker is not None:
            await asyncio.to_thread(running_broker.__exit__, None, None, None)


async def test_two_relays_publish_300_rows_of_30_keys_exactly_once_in_per_key_order(
    db: Database, stream: Stream, bootstrap_servers: str
) -> None:
    settings = settings_for(bootstrap_servers)
    producers = [new_producer(settings), new_producer(settings)]
    for kafka in producers:
        await kafka.start()
    relays = [
        OutboxRelay(
            db.engine,
            db.outbox,
            kafka,
            listen_dsn=db.listen_dsn,
            batch_size=8,
            poll_interval=0.05,
        )
        for kafka in producers
    ]
    keys = [str(uuid.uuid4()) for _ in range(30)]
    # Step s of every patient, in 60 transactions of 5 events, while both relays run.
    events = [stream.event(keys[i % 30], i // 30) for i in range(300)]
    try:
        async with running(*relays) as tasks:
            for start in range(0, 300, 5):
                await stage(db, events[start : start + 5])
                await asyncio.sleep(0.005)

            async def drained() -> bool:
                assert not any(task.done() for task in tasks), "a relay stopped"
                return await unpublished(db) == 0

            await eventually(drained, within=30.0, what="both relays to drain the outbox")
    finally:
        for kafka in producers:
            await kafka.stop()

    assert await outbox_rows(db) == 300
    records = await read_topic(bootstrap_servers, stream.topic)
    assert len(records) == 300
    assert {header(record, "ce_id") for record in records} == {str(e.id) for e in events}
    assert sequences(records) == {key: list(range(10)) for key in keys}


async def test_a_write_never_waits_for_a_relay_publishing_the_same_key(db: Database) -> None:
    """A relay holds a patient's key while it sends (a frozen broker: for as long as the
    produce lasts); a request writing that patient's next event commits all the same."""
    stream = Stream("test.outbox.unpublished", step_type("test.outbox.unpublished"))
    async with db.sessions.begin() as session:
        await add_events(session, db.outbox, [stream.event("p-1", 1)])

    class LetGo(Exception):
        """Ends the relay's transaction by rolling it back, as a failed send does."""

    with contextlib.suppress(LetGo):
        async with transaction(db.engine) as relay:
            # Mid-publish, as OutboxRelay.publish_batch is while Kafka does not answer.
            claimed = await (await relay.connection()).fetch(_claim(db.outbox), 10)
            assert [row["key"] for row in claimed] == ["p-1"]
            async with asyncio.timeout(5), db.sessions.begin() as writer:
                await add_events(writer, db.outbox, [stream.event("p-1", 2)])
            raise LetGo
    async with db.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(db.outbox))
    assert count == 2
