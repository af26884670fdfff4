"""Cycle arithmetic: the sessions of a plan and the window each should happen in.

Windows are calendar dates in the clinic's time zone. Date arithmetic does not
see daylight-saving changes; the only place the time zone matters is turning an
instant (an appointment's start, "now") into the clinic's date: :func:`clinic_date`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from shared.contracts.plans import SessionWindow

CYCLE = "cycle"
MAINTENANCE = "maintenance"


class CadenceError(ValueError):
    """A protocol's numbers cannot make a cycle (e.g. windows that would overlap)."""


class ProtocolNumbers(Protocol):
    """The numbers of a protocol a cadence is made of."""

    @property
    def session_count(self) -> int: ...
    @property
    def interval_days(self) -> int: ...
    @property
    def tolerance_days(self) -> int: ...
    @property
    def maintenance_sessions(self) -> int: ...
    @property
    def maintenance_interval_days(self) -> int | None: ...


@dataclass(frozen=True)
class Cadence:
    """How a protocol spaces its sessions: the cycle, then optional maintenance sessions."""

    sessions: int
    interval_days: int
    tolerance_days: int
    maintenance_sessions: int = 0
    maintenance_interval_days: int | None = None

    @classmethod
    def of(cls, protocol: ProtocolNumbers) -> Cadence:
        """The cadence of a protocol (stored, or as sent)."""
        return cls(
            sessions=protocol.session_count,
            interval_days=protocol.interval_days,
            tolerance_days=protocol.tolerance_days,
            maintenance_sessions=protocol.maintenance_sessions,
            maintenance_interval_days=protocol.maintenance_interval_days,
        )

    def __post_init__(self) -> None:
        if not 1 <= self.sessions <= 30:
            raise CadenceError(f"a cycle has 1 to 30 sessions, not {self.sessions}")
        if self.interval_days < 1:
            raise CadenceError("sessions are at least a day apart")
        if not 0 <= self.tolerance_days * 2 < self.interval_days:
            raise CadenceError("the tolerance must be less than half the interval")
        if not 0 <= self.maintenance_sessions <= 30:
            raise CadenceError("a protocol has 0 to 30 maintenance sessions")
        if self.maintenance_sessions:
            gap = self.maintenance_interval_days
            if gap is None or gap < self.interval_days:
                raise CadenceError(
                    "maintenance sessions need an interval at least as long as the cycle's"
                )

    @property
    def total(self) -> int:
        """Every session of the plan, maintenance included."""
        return self.sessions + self.maintenance_sessions

    def kind(self, number: int) -> str:
        return CYCLE if number <= self.sessions else MAINTENANCE

    def gap_before(self, number: int) -> int:
        """Days between session ``number - 1`` and session ``number``."""
        if number <= self.sessions or self.maintenance_interval_days is None:
            return self.interval_days
        return self.maintenance_interval_days

    def days_between(self, first: int, last: int) -> int:
        """Days from session ``first``'s target to session ``last``'s (negative if before)."""
        if last < first:
            return -self.days_between(last, first)
        return sum(self.gap_before(n) for n in range(first + 1, last + 1))


def schedule_cycle(cadence: Cadence, *, start: date) -> list[SessionWindow]:
    """Windows for a cycle starting on ``start``, each session one interval after the last.

    Each window is the target plus or minus the tolerance; windows never overlap
    (the tolerance is less than half the interval) and the first never opens
    before the start date.
    """
    return reanchor(
        cadence,
        range(1, cadence.total + 1),
        anchor_number=1,
        anchor_date=start,
        not_before=start,
    )


def reanchor(
    cadence: Cadence,
    numbers: Iterable[int],
    *,
    anchor_number: int,
    anchor_date: date,
    not_before: date,
) -> list[SessionWindow]:
    """New windows for sessions ``numbers``, spaced from ``anchor_number`` on ``anchor_date``.

    Session j's target is ``anchor_date`` plus the cadence's days from the anchor to j;
    no window opens before ``not_before`` (the day after a session done, today...).
    Only sessions from the anchor on move, and no target falls before ``not_before``:
    so every target is inside its window and the windows keep their order.
    """
    ordered = sorted(numbers)
    if ordered and ordered[0] < anchor_number:
        raise ValueError("only sessions from the anchor on can be re-anchored")
    windows = []
    tolerance = timedelta(days=cadence.tolerance_days)
    for number in ordered:
        target = anchor_date + timedelta(days=cadence.days_between(anchor_number, number))
        if target < not_before:
            raise ValueError(f"session {number} would be due before {not_before}")
        windows.append(
            SessionWindow(
                session_number=number,
                total_sessions=cadence.total,
                target_date=target,
                earliest_date=max(target - tolerance, not_before),
                latest_date=target + tolerance,
                kind=cadence.kind(number),
            )
        )
    return windows


def clinic_date(instant: datetime, time_zone: str) -> date:
    """The calendar date an instant falls on in the clinic's time zone."""
    if instant.tzinfo is None:
        raise ValueError("an instant must carry its UTC offset")
    return instant.astimezone(ZoneInfo(time_zone)).date()
