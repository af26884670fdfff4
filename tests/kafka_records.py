"""Reading what landed on a topic, for tests that check records on the real broker."""

from __future__ import annotations

import asyncio
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

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
