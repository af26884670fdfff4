"""A per-sender rate limit: a token bucket of SMS segments per second."""

from __future__ import annotations

import asyncio
import time


class SegmentRate:
    """Lets ``rate`` segments a second through on average, bursts of up to ``burst``."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._tokens = self._burst
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def capacity(self, seconds: float) -> int | None:
        """How many segments can go out within ``seconds`` (None: unlimited)."""
        if self._rate is None:
            return None
        return int(self._burst + self._rate * seconds)

    async def take(self, segments: int) -> None:
        """Wait until ``segments`` may be sent."""
        if self._rate is None:
            return
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens >= segments or self._tokens >= self._burst:
                    self._tokens -= segments
                    return
                await asyncio.sleep((min(segments, self._burst) - self._tokens) / self._rate)
