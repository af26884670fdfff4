"""Cycle arithmetic: the sessions of a plan and the window each should happen in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Window:
    """Session k of N: its target date and the dates it may happen between (inclusive)."""

    session_number: int
    total_sessions: int
    target: date
    earliest: date
    latest: date


def schedule_cycle(
    *, start: date, sessions: int, interval_days: int, tolerance_days: int
) -> list[Window]:
    """Windows for a cycle starting on ``start``, one every ``interval_days``.

    Each window is the target plus or minus the tolerance; windows never overlap
    (the tolerance is less than half the interval) and the first never opens
    before the start date.
    """
    if sessions < 1:
        raise ValueError("a cycle has at least one session")
    if interval_days < 1:
        raise ValueError("sessions are at least a day apart")
    if not 0 <= tolerance_days * 2 < interval_days:
        raise ValueError("the tolerance must be less than half the interval")
    windows = []
    for k in range(1, sessions + 1):
        target = start + timedelta(days=(k - 1) * interval_days)
        earliest = max(start, target - timedelta(days=tolerance_days))
        windows.append(
            Window(
                session_number=k,
                total_sessions=sessions,
                target=target,
                earliest=earliest,
                latest=target + timedelta(days=tolerance_days),
            )
        )
    return windows
