"""How far a service's consumers are behind, read from the broker, and whether they stall.

The numbers come from the consumer group's committed offsets and the partitions' end
offsets, as the broker knows them: any process of the service (its API, say) sees them,
even when the consumer process itself is frozen. ``/metrics`` exports them per group and
partition; ``/readyz`` fails, naming the group and the partition, when a partition has
had events waiting (lag > 0) and no committed progress for ``CONSUMER_STALL_SECONDS``.
Time here is the monotonic clock: progress is real work, whatever the clinic's clock says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from shared.observability import NotReady

log = logging.getLogger(__name__)

LAG = Gauge(
    "consumer_lag", "Events on the broker the group has not committed", ["group", "partition"]
)
IDLE = Gauge(
    "consumer_seconds_without_progress",
    "Seconds since the group's committed offset last moved while events waited",
    ["group", "partition"],
)


class Stalled(NotReady):
    """The group has events waiting and has not committed any for too long."""


@dataclass
class _Seen:
    committed: int
    #: When the committed offset last moved (or the partition last had nothing waiting).
    since: float
    lag: int = 0


class ConsumerProgress:
    """The lag of ``group`` on ``topics``, probed at most every ``cache_seconds``."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group: str,
        topics: Sequence[str],
        stall_seconds: float,
        cache_seconds: float = 1.0,
    ) -> None:
        self._servers, self._group, self._topics = bootstrap_servers, group, list(topics)
        self._stall_seconds, self._cache_seconds = stall_seconds, cache_seconds
        self._seen: dict[TopicPartition, _Seen] = {}
        self._probed_at = -float("inf")
        self._lock = asyncio.Lock()
        self._admin: AIOKafkaAdminClient | None = None
        self._ends: AIOKafkaConsumer | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ConsumerProgress]:
        """Open the clients the probes use (an admin client and a group-less consumer)."""
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._servers)
        self._ends = AIOKafkaConsumer(bootstrap_servers=self._servers, enable_auto_commit=False)
        try:
            await self._admin.start()
            await self._ends.start()
            yield self
        finally:
            await self._ends.stop()
            await self._admin.close()

    async def check(self) -> None:
        """The readiness check: raise :class:`Stalled` naming what does not move."""
        stalled = await self.stalled()
        if stalled:
            raise Stalled("; ".join(stalled))

    async def stalled(self) -> list[str]:
        """Each partition with events waiting and no progress for too long, said."""
        async with self._lock:
            now = time.monotonic()
            if now - self._probed_at >= self._cache_seconds:
                self._probed_at = now
                try:
                    await self._probe(now)
                except Exception as error:
                    # The broker check says whether the broker answers; a broker that
                    # cannot tell offsets (Tansu's admin API) leaves the last known.
                    log.debug("consumer progress unknown: %s", type(error).__name__)
        now = time.monotonic()
        return [
            f"consumer group {self._group} has not moved on {_name(tp)} for "
            f"{now - seen.since:.0f} s with {seen.lag} events waiting"
            for tp, seen in self._seen.items()
            if seen.lag > 0 and now - seen.since > self._stall_seconds
        ]

    async def _probe(self, now: float) -> None:
        assert self._admin is not None
        assert self._ends is not None
        described = await self._admin.describe_topics(self._topics)
        partitions = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            for partition in topic["partitions"]
        ]
        ends = await self._ends.end_offsets(partitions)
        committed = await self._admin.list_consumer_group_offsets(self._group)
        for tp in partitions:
            position = committed.get(tp)
            offset = position.offset if position is not None and position.offset >= 0 else 0
            lag = max(ends[tp] - offset, 0)
            seen = self._seen.get(tp)
            # Waiting counts from the first probe that saw events waiting: nothing waited
            # before (the last probe may be long ago), or the group moved since.
            if seen is None or seen.committed != offset or seen.lag == 0 or lag == 0:
                seen = self._seen[tp] = _Seen(offset, now)
            seen.lag = lag
            LAG.labels(self._group, _name(tp)).set(lag)
            IDLE.labels(self._group, _name(tp)).set(now - seen.since if lag else 0)


def _name(tp: TopicPartition) -> str:
    return f"{tp.topic}[{tp.partition}]"
