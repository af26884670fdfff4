"""Waiting for something the system does asynchronously (events travel, workers run)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float = 20.0, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail saying what never happened."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
