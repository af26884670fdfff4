"""Consumed event type -> use case. Plans follows booking's appointments (see issue #3)."""

from __future__ import annotations

from shared.consumer import Handlers
from shared.service import Runtime


def handlers(runtime: Runtime) -> Handlers:
    return {}
