"""The pure scheduling domain, property-tested: quiet hours, DST, late bookings, caps."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from notify.domain.kinds import SCHEDULED
from notify.domain.policy import DEFAULT_POLICY, MessagePolicy, Timing
from notify.domain.quiet_hours import move_before_quiet_hours, quiet_hours_end_after
from notify.domain.schedule import Decision, Session, plan_session_messages
from notify.domain.templates.defaults import DEFAULT_TEMPLATES
from notify.domain.templates.render import TemplateRejected, check_template
from notify.domain.templates.segments import count_segments
from shared.clock import is_quiet
from shared.contracts.notify import MessageKind

# Zones with DST changes in both hemispheres, a half-hour one, and one without.
ZONES = ["Europe/Paris", "America/New_York", "Australia/Sydney", "America/St_Johns", "Asia/Tokyo"]
# Hypothesis takes naive bounds and attaches the zone itself.
instants = st.datetimes(
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
zones = st.sampled_from(ZONES)
quiet_windows = st.sampled_from(
    [(time(21, 0), time(8, 0)), (time(22, 30), time(7, 0)), (time(0, 0), time(6, 0))]
)


@given(instant=instants, zone=zones, window=quiet_windows)
def test_a_message_moved_out_of_quiet_hours_only_moves_earlier_and_out_of_the_night(
    instant: datetime, zone: str, window: tuple[time, time]
) -> None:
    tz, (start, end) = ZoneInfo(zone), window
    moved = move_before_quiet_hours(instant, tz, start, end)
    assert moved <= instant
    assert not is_quiet(moved, tz, start, end)
    assert instant - moved < timedelta(hours=12)
    morning = quiet_hours_end_after(instant, tz, start, end)
    assert morning >= instant
    assert not is_quiet(morning, tz, start, end)


@settings(max_examples=300)
@given(
    start=instants,
    booked_before=st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=20)),
    zone=zones,
    cream=st.booleans(),
    others=st.lists(instants, max_size=12),
)
def test_every_planned_message_is_timely_explained_and_within_the_caps(
    start: datetime, booked_before: timedelta, zone: str, cream: bool, others: list[datetime]
) -> None:
    now = start - booked_before
    tz = ZoneInfo(zone)
    session = Session(starts_at=start, time_zone=zone, numbing_cream=cream, confirm=True)
    planned = plan_session_messages(session, DEFAULT_POLICY, now=now, other_sends=others)

    kinds = [m.kind for m in planned]
    assert len(kinds) == len(set(kinds))
    assert (MessageKind.CREAM_APPLY in kinds) == cream
    per_day = Counter(o.astimezone(tz).date() for o in others)
    for message in planned:
        if message.decision is Decision.SEND:
            assert message.due_at is not None
            assert now <= message.due_at < start  # never after the session starts
            assert message.due_at < message.useful_until
            if message.kind in SCHEDULED:
                quiet = is_quiet(message.due_at, tz, time(21, 0), time(8, 0))
                assert not quiet  # never into the night
            per_day[message.due_at.astimezone(tz).date()] += 1
        else:
            assert message.reason  # never a silent drop
    admitted_days = {
        m.due_at.astimezone(tz).date()
        for m in planned
        if m.decision is Decision.SEND and m.kind in SCHEDULED and m.due_at is not None
    }
    for day in admitted_days:  # a scheduled message never pushes a day past the cap
        assert per_day[day] <= DEFAULT_POLICY.daily_cap


@given(start=instants, zone=zones)
def test_the_apply_time_leaves_the_cream_at_least_an_hour(start: datetime, zone: str) -> None:
    session = Session(starts_at=start, time_zone=zone, numbing_cream=True, confirm=False)
    planned = plan_session_messages(session, DEFAULT_POLICY, now=start - timedelta(days=30))
    [apply] = [m for m in planned if m.kind is MessageKind.CREAM_APPLY]
    assert apply.apply_at is not None
    assert start - apply.apply_at >= timedelta(minutes=DEFAULT_POLICY.cream_minimum_minutes)


def test_days_before_keep_their_wall_time_across_a_dst_change() -> None:
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 3, 30, 8, 30, tzinfo=paris)  # the day after clocks went forward
    session = Session(starts_at=start, time_zone="Europe/Paris", numbing_cream=True, confirm=False)
    planned = plan_session_messages(session, DEFAULT_POLICY, now=start - timedelta(days=10))
    [ready] = [m for m in planned if m.kind is MessageKind.CREAM_READY]
    assert ready.due_at is not None
    assert f"{ready.due_at.astimezone(paris):%a %H:%M}" == "Sat 08:30"
    assert start - ready.due_at == timedelta(hours=47)  # two calendar days, one hour lost


def test_caps_skip_the_least_useful_scheduled_message_with_the_reason() -> None:
    start = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
    policy = MessagePolicy(daily_cap=1)
    session = Session(starts_at=start, time_zone="UTC", numbing_cream=False, confirm=False)
    planned = plan_session_messages(session, policy, now=start - timedelta(days=5))
    by_kind = {m.kind: m for m in planned}
    assert by_kind[MessageKind.REMINDER_2H].decision is Decision.SEND
    assert (
        by_kind[MessageKind.REMINDER_24H].decision is Decision.SEND
    )  # the day before: its own day
    busy = plan_session_messages(session, policy, now=start - timedelta(days=5),
                                 other_sends=[start - timedelta(hours=6)])  # fmt: skip
    skipped = {m.kind: m for m in busy}[MessageKind.REMINDER_2H]
    assert skipped.decision is Decision.SKIPPED
    assert "daily cap" in (skipped.reason or "")


def test_an_unworkable_policy_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="cream_minimum_minutes"):
        MessagePolicy(cream_apply=Timing(minutes_before=30, if_booked_late="skip"))
    with pytest.raises(ValidationError, match="quiet hours"):
        MessagePolicy(quiet_hours_start=time(9, 0), quiet_hours_end=time(8, 0))


@pytest.mark.parametrize("language", sorted(DEFAULT_TEMPLATES))
@pytest.mark.parametrize("kind", list(MessageKind))
def test_default_texts_fit_two_segments_and_name_no_treatment(
    language: str, kind: MessageKind
) -> None:
    text = check_template(
        DEFAULT_TEMPLATES[language][kind], kind=kind, policy=DEFAULT_POLICY, clinic="Mesocycle"
    )
    assert count_segments(text) <= 2
    assert "rejuvenation" not in text.lower()


def test_a_template_naming_the_treatment_needs_full_text() -> None:
    with pytest.raises(TemplateRejected, match="treatment"):
        check_template(
            "{{ treatment }}", kind=MessageKind.REMINDER_2H, policy=DEFAULT_POLICY, clinic="M"
        )
    full = MessagePolicy(full_text=True)
    assert check_template("{{ treatment }}", kind=MessageKind.REMINDER_2H, policy=full, clinic="M")
