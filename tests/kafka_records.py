"""Reading what landed on a topic, for tests that check records on the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.polling import eventually

Record: TypeAlias = ConsumerRecord[bytes, bytes]


async def read_topic(bootstrap_servers: str, topic: str, *, partitions: int = 3) -> list[Record]:
    """Every record on ``topic`` up to its current end, each partition in offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        records: list[Record] = []
        async with asyncio.timeout(15):
            while [p for p in assigned if await consumer.position(p) < end[p]]:
                batches = await consumer.getmany(*assigned, timeout_ms=200)
                for batch in batches.values():
                    records.extend(batch)
        return records
    finally:
        await consumer.stop()


def header(record: Record, name: str) -> str:
    """The one value of header ``name`` (fails if it is missing or repeated)."""
    values: list[bytes] = [value for key, value in record.headers if key == name]
    assert len(values) == 1, f"header {name} appears {len(values)} times"
    return values[0].decode()


async def consumed_past(
    bootstrap_servers: str, group: str, partition: TopicPartition, offset: int
) -> None:
    """Wait until ``group`` committed an offset past ``offset`` on ``partition``: our
    consumers commit only after the effect's transaction, so the record was applied."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:

        async def probe() -> bool:
            committed = await admin.list_consumer_group_offsets(group, partitions=[partition])
            position = committed.get(partition)
            return position is not None and position.offset > offset

        await eventually(probe, what=f"{group} to consume {partition} past offset {offset}")
    finally:
        await admin.close()


async def find_records(
    bootstrap_servers: str,
    topic: str,
    match: Callable[[Record], bool],
    *,
    count: int = 1,
    within: float = 20.0,
    what: str = "records",
) -> list[Record]:
    """The first ``count`` records on ``topic`` that ``match``, waiting for them to land."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    found: list[Record] = []
    try:

        async def probe() -> list[Record] | None:
            batches = await consumer.getmany(timeout_ms=500)
            found.extend(r for records in batches.values() for r in records if match(r))
            return found[:count] if len(found) >= count else None

        return await eventually(probe, within=within, what=f"{what} on {topic}")
    finally:
        await consumer.stop()


def headers_of(record: Record) -> dict[str, str]:
    """A record's headers as text (the CloudEvents attributes: ce_type, ce_subject...)."""
    return {key: value.decode() for key, value in record.headers}
