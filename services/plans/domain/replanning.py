"""How a plan follows reality: re-anchoring, reopening, pausing and resuming windows.

Every rule moves a *suffix* of the cycle (a session and those after it) with
:func:`~plans.domain.cycle.reanchor`, so the windows keep the protocol's interval
from the session that really happened (or will). Sessions before it, and sessions
already settled (completed, cancelled, skipped), never move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from plans.domain.cycle import Cadence, reanchor
from plans.domain.lifecycle import SETTLED, SessionStatus
from shared.contracts.plans import SessionWindow

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class SessionState:
    """A session as the plan knows it now."""

    window: SessionWindow
    status: SessionStatus

    @property
    def number(self) -> int:
        return self.window.session_number


@dataclass(frozen=True)
class Replan:
    """What a rule decided: new windows, new statuses, and whether the plan is done."""

    #: Sessions whose window is new (a reopened session is here even if its dates are not).
    windows: list[SessionWindow] = field(default_factory=list)
    statuses: dict[int, SessionStatus] = field(default_factory=dict)
    plan_completed: bool = False


def _moved(sessions: Sequence[SessionState], windows: list[SessionWindow]) -> list[SessionWindow]:
    current = {s.number: s.window for s in sessions}
    return [w for w in windows if current.get(w.session_number) != w]


def _movable_from(sessions: Sequence[SessionState], number: int) -> list[int]:
    return [s.number for s in sessions if s.number >= number and s.status not in SETTLED]


def session_completed(
    sessions: Sequence[SessionState], cadence: Cadence, *, number: int, on: date
) -> Replan:
    """Session ``number`` took place ``on`` a date (early, on time or late).

    The sessions after it that are still to happen are re-anchored to that date.
    The last session done completes the plan; earlier ones never done are skipped.
    """
    last = max(s.number for s in sessions)
    statuses = {number: SessionStatus.COMPLETED}
    if number == last:
        statuses |= {
            s.number: SessionStatus.SKIPPED
            for s in sessions
            if s.number != number and s.status not in SETTLED
        }
        return Replan(statuses=statuses, plan_completed=True)
    later = _movable_from(sessions, number + 1)
    windows = reanchor(
        cadence, later, anchor_number=number, anchor_date=on, not_before=on + ONE_DAY
    )
    return Replan(windows=_moved(sessions, windows), statuses=statuses)


def session_missed(
    sessions: Sequence[SessionState], cadence: Cadence, *, number: int, not_before: date
) -> Replan:
    """Session ``number``'s appointment will not happen (no-show, cancellation): reopen it.

    Its window keeps its dates from ``not_before`` on (never opening earlier than it did);
    if the window has closed, it moves to start on ``not_before`` and the sessions after
    it move with it.
    """
    state = next(s for s in sessions if s.number == number)
    not_before = max(not_before, state.window.earliest_date)  # reopening never widens a window
    target = max(state.window.target_date, not_before)
    windows = reanchor(
        cadence,
        _movable_from(sessions, number),
        anchor_number=number,
        anchor_date=target,
        not_before=not_before,
    )
    reopened = [w for w in windows if w.session_number == number]
    return Replan(
        windows=reopened + [w for w in _moved(sessions, windows) if w.session_number != number],
        statuses={number: SessionStatus.OPEN},
    )


def plan_paused(sessions: Sequence[SessionState]) -> Replan:
    """Open sessions are withdrawn; booked ones keep their appointment."""
    return Replan(
        statuses={
            s.number: SessionStatus.WITHDRAWN for s in sessions if s.status == SessionStatus.OPEN
        }
    )


def plan_resumed(sessions: Sequence[SessionState], cadence: Cadence, *, on: date) -> Replan:
    """Re-plan from the resume date: withdrawn sessions reopen, from ``on`` at the earliest.

    The first withdrawn session keeps its target if it is still ahead, else moves to
    ``on``; the sessions after it follow at the protocol's interval. No window opens
    earlier than it did before the pause.
    """
    withdrawn = [s for s in sessions if s.status == SessionStatus.WITHDRAWN]
    if not withdrawn:
        return Replan()
    first = withdrawn[0]
    not_before = max(on, first.window.earliest_date)  # resuming early never widens a window
    windows = reanchor(
        cadence,
        _movable_from(sessions, first.number),
        anchor_number=first.number,
        anchor_date=max(first.window.target_date, on),
        not_before=not_before,
    )
    reopened = {s.number for s in withdrawn}
    moved = set(_moved(sessions, windows))
    return Replan(
        windows=[w for w in windows if w.session_number in reopened or w in moved],
        statuses={number: SessionStatus.OPEN for number in reopened},
    )
