"""Re-planning rules: whatever happens to a cycle (sessions done early or late, no-shows,
cancellations, pauses), the windows still to come stay ordered, apart, at the interval,
and never sooner than one interval after the last session done."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from plans.domain.cycle import Cadence, schedule_cycle
from plans.domain.lifecycle import SETTLED, SessionStatus
from plans.domain.progress import SessionRecord, progress
from plans.domain.replanning import (
    Replan,
    SessionState,
    plan_paused,
    plan_resumed,
    session_completed,
    session_missed,
)

START = date(2026, 3, 2)
OPEN, BOOKED, DONE = SessionStatus.OPEN, SessionStatus.BOOKED, SessionStatus.COMPLETED


def cycle(cadence: Cadence, start: date = START) -> list[SessionState]:
    return [SessionState(w, OPEN) for w in schedule_cycle(cadence, start=start)]


def applied(sessions: list[SessionState], replan: Replan) -> list[SessionState]:
    windows = {w.session_number: w for w in replan.windows}
    return [
        SessionState(windows.get(s.number, s.window), replan.statuses.get(s.number, s.status))
        for s in sessions
    ]


@dataclass
class Story:
    """A cycle as it unfolds: its sessions, the clinic's today, the last session done."""

    cadence: Cadence
    sessions: list[SessionState]
    today: date
    last_done: tuple[int, date] | None = None
    paused: bool = False

    def check(self) -> None:
        pending = [s for s in self.sessions if s.status not in SETTLED]
        for s in pending:
            w = s.window
            assert w.earliest_date <= w.target_date <= w.latest_date
            assert (w.latest_date - w.target_date).days == self.cadence.tolerance_days
        for before, after in itertools.pairwise(pending):
            assert before.window.latest_date < after.window.earliest_date, "windows overlap"
            gap = self.cadence.days_between(before.number, after.number)
            assert (after.window.target_date - before.window.target_date).days == gap
        if self.last_done and pending:
            number, on = self.last_done
            first = pending[0]
            if first.number > number:
                assert first.window.earliest_date > on
                assert (first.window.target_date - on).days >= self.cadence.days_between(
                    number, first.number
                )


@st.composite
def stories(draw: st.DrawFn) -> Story:
    interval = draw(st.integers(min_value=2, max_value=30))
    cadence = Cadence(
        sessions=draw(st.integers(min_value=1, max_value=12)),
        interval_days=interval,
        tolerance_days=draw(st.integers(min_value=0, max_value=(interval - 1) // 2)),
    )
    story = Story(cadence, cycle(cadence), today=START)
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        pending = [s for s in story.sessions if s.status not in SETTLED]
        if not pending:
            break
        step = draw(st.sampled_from(["done", "no-show", "cancel", "pause"]))
        if story.paused:
            resume_on = story.today + timedelta(days=draw(st.integers(0, 40)))
            story.sessions = applied(
                story.sessions, plan_resumed(story.sessions, cadence, on=resume_on)
            )
            story.today, story.paused = resume_on, False
        elif step == "pause":
            story.sessions = applied(story.sessions, plan_paused(story.sessions))
            story.paused = True
        else:
            nxt = pending[0]
            late = draw(st.integers(min_value=0, max_value=cadence.tolerance_days * 2 + 3))
            on = max(nxt.window.earliest_date, story.today) + timedelta(days=late)
            if step == "done":
                replan = session_completed(story.sessions, cadence, number=nxt.number, on=on)
                story.last_done = (nxt.number, on)
                story.today = on + timedelta(days=1)
            else:
                not_before = on + timedelta(days=1) if step == "no-show" else story.today
                replan = session_missed(
                    story.sessions, cadence, number=nxt.number, not_before=not_before
                )
                assert replan.windows[0].session_number == nxt.number
                assert replan.windows[0].earliest_date >= not_before
                story.today = not_before
            story.sessions = applied(story.sessions, replan)
        story.check()
    return story


@settings(max_examples=300)
@given(story=stories())
def test_whatever_happens_the_windows_to_come_stay_ordered_apart_and_at_the_interval(
    story: Story,
) -> None:
    story.check()


def test_a_session_done_three_days_late_moves_every_later_window_three_days() -> None:
    cadence = Cadence(4, 7, 2)
    sessions = cycle(cadence)
    replan = session_completed(sessions, cadence, number=1, on=START + timedelta(days=3))
    assert [w.target_date for w in replan.windows] == [
        START + timedelta(days=10), START + timedelta(days=17), START + timedelta(days=24),
    ]  # fmt: skip
    assert replan.statuses == {1: DONE}
    assert not replan.plan_completed


def test_a_session_done_on_its_target_date_changes_no_window() -> None:
    cadence = Cadence(4, 7, 2)
    assert session_completed(cycle(cadence), cadence, number=1, on=START).windows == []


def test_completing_the_last_session_completes_the_plan_and_skips_what_was_never_done() -> None:
    cadence = Cadence(3, 7, 2)
    sessions = cycle(cadence)
    sessions[0] = replace(sessions[0], status=DONE)
    replan = session_completed(sessions, cadence, number=3, on=START + timedelta(days=14))
    assert replan.plan_completed
    assert replan.statuses == {3: DONE, 2: SessionStatus.SKIPPED}


def test_a_no_show_inside_the_window_reopens_it_from_the_next_day_without_moving_the_rest() -> None:
    cadence = Cadence(4, 14, 3)
    sessions = cycle(cadence)
    sessions[1] = replace(sessions[1], status=BOOKED)
    missed_on = sessions[1].window.earliest_date  # two days left after it before the target
    replan = session_missed(sessions, cadence, number=2, not_before=missed_on + timedelta(1))
    [reopened] = replan.windows
    assert reopened.target_date == sessions[1].window.target_date
    assert reopened.earliest_date == missed_on + timedelta(days=1)
    assert replan.statuses == {2: OPEN}


def test_a_no_show_on_the_last_day_of_the_window_moves_it_and_the_sessions_after() -> None:
    cadence = Cadence(3, 7, 2)
    sessions = cycle(cadence)
    last_day = sessions[1].window.latest_date
    replan = session_missed(sessions, cadence, number=2, not_before=last_day + timedelta(1))
    assert [w.session_number for w in replan.windows] == [2, 3]
    assert replan.windows[0].target_date == last_day + timedelta(days=1)
    assert replan.windows[1].target_date == last_day + timedelta(days=8)


def test_pausing_withdraws_open_sessions_only_and_resuming_replans_from_the_resume_date() -> None:
    cadence = Cadence(4, 7, 2)
    sessions = cycle(cadence)
    sessions[0] = replace(sessions[0], status=DONE)
    sessions[1] = replace(sessions[1], status=BOOKED)
    paused = applied(sessions, plan_paused(sessions))
    assert [s.status for s in paused] == [DONE, BOOKED, "withdrawn", "withdrawn"]
    resume_on = START + timedelta(days=40)
    replan = plan_resumed(paused, cadence, on=resume_on)
    assert replan.statuses == {3: OPEN, 4: OPEN}
    assert [(w.session_number, w.target_date) for w in replan.windows] == [
        (3, resume_on), (4, resume_on + timedelta(days=7)),
    ]  # fmt: skip
    assert replan.windows[0].earliest_date == resume_on


def test_resuming_before_the_windows_were_due_keeps_them() -> None:
    cadence = Cadence(4, 7, 2)
    paused = applied(cycle(cadence), plan_paused(cycle(cadence)))
    replan = plan_resumed(paused, cadence, on=START - timedelta(days=5))
    assert [w for w in replan.windows] == [s.window for s in cycle(cadence)]


def test_progress_counts_sessions_by_status_missed_overdue_and_names_the_next_window() -> None:
    windows = schedule_cycle(Cadence(5, 7, 2), start=START)

    def record(i: int, status: SessionStatus, missed: int = 0) -> SessionRecord:
        return SessionRecord(windows[i], status, missed)

    sessions = [record(0, DONE), record(1, DONE, 1), record(2, OPEN, 2), record(3, BOOKED),
                record(4, OPEN)]  # fmt: skip
    seen = progress(sessions, today=windows[2].latest_date + timedelta(days=1))
    assert (seen.total, seen.completed, seen.booked, seen.open) == (5, 2, 1, 2)
    assert (seen.missed, seen.overdue) == (3, 1)
    assert seen.next_window == windows[2]
    assert progress([record(0, DONE)], today=START).next_window is None
