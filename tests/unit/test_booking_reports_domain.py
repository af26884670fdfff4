"""The staff reports' figures, as booking.domain.reports defines them: periods, course
adherence, no-shows and late cancellations, utilisation, SMS and offers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.domain.availability import Interval, Resource, WeeklyHours
from booking.domain.reports import (
    MAX_PERIOD_DAYS,
    STATUS_RANK,
    AdherenceLine,
    MessageFact,
    OfferFact,
    Period,
    PlanOutcome,
    Punctuality,
    Reply,
    ResourceKind,
    SessionOutcome,
    SmsLine,
    Visit,
    adherence,
    adherence_total,
    answered,
    attendance,
    confirmation_replies,
    merged,
    offer_summary,
    open_time,
    overlap_minutes,
    punctuality,
    rate,
    sms_by_kind,
    usage,
    usage_total,
    window_closed,
    without,
)
from shared.contracts.booking import AppointmentStatus, OfferStatus
from shared.contracts.notify import MessageKind, MessageStatus

PARIS = ZoneInfo("Europe/Paris")
MONDAY = date(2026, 1, 5)


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS).astimezone(UTC)


def test_a_period_is_refused_backwards_or_longer_than_a_year() -> None:
    assert Period(MONDAY, MONDAY).refusal() is None
    backwards = Period(MONDAY, MONDAY - timedelta(days=1)).refusal()
    assert backwards == "to (2026-01-04) must be on or after from (2026-01-05)"
    assert Period(date(2024, 1, 1), date(2024, 12, 31)).refusal() is None  # a leap year
    assert Period(date(2025, 1, 1), date(2026, 1, 1)).days == MAX_PERIOD_DAYS
    too_long = Period(date(2025, 1, 1), date(2026, 1, 2)).refusal()
    assert too_long == "a report covers at most 366 days; 2025-01-01 to 2026-01-02 is 367"


def test_a_period_runs_from_midnight_to_midnight_where_the_location_is() -> None:
    summer_night = Period(date(2027, 3, 28), date(2027, 3, 28)).span("Europe/Paris")
    assert summer_night.start == datetime(2027, 3, 27, 23, 0, tzinfo=UTC)
    assert summer_night.end - summer_night.start == timedelta(hours=23)
    assert date(2027, 3, 28) in Period(date(2027, 3, 28), date(2027, 3, 28))
    assert date(2027, 3, 29) not in Period(date(2027, 3, 28), date(2027, 3, 28))


def test_a_rate_is_a_fraction_and_none_without_a_whole() -> None:
    assert rate(1, 3) == 0.3333
    assert rate(0, 4) == 0.0
    assert rate(0, 0) is None


def test_a_session_is_on_time_inside_its_window_both_ends_included() -> None:
    window = {"earliest": date(2026, 1, 5), "latest": date(2026, 1, 9)}
    assert punctuality(date(2026, 1, 5), **window) is Punctuality.ON_TIME
    assert punctuality(date(2026, 1, 9), **window) is Punctuality.ON_TIME
    assert punctuality(date(2026, 1, 10), **window) is Punctuality.LATE
    assert punctuality(date(2026, 1, 4), **window) is Punctuality.EARLY


def test_a_window_has_closed_once_its_last_day_is_over() -> None:
    assert not window_closed(date(2026, 1, 9), today=date(2026, 1, 9))
    assert window_closed(date(2026, 1, 9), today=date(2026, 1, 10))


def held(indication: str, status: AppointmentStatus, day: int) -> SessionOutcome:
    return SessionOutcome(
        indication, status, date(2026, 1, day), earliest=date(2026, 1, 5), latest=date(2026, 1, 9)
    )


def test_adherence_counts_sessions_and_plans_per_indication() -> None:
    lines = adherence(
        [
            held("cellulite", AppointmentStatus.COMPLETED, 7),
            held("cellulite", AppointmentStatus.COMPLETED, 12),
            held("cellulite", AppointmentStatus.COMPLETED, 2),
            held("weight_loss", AppointmentStatus.NO_SHOW, 8),
            held("weight_loss", AppointmentStatus.COMPLETED, 9),
        ],
        ["cellulite", "hair_regrowth"],
        [("cellulite", PlanOutcome.COMPLETED), ("weight_loss", PlanOutcome.DROPPED)],
    )
    assert lines == [
        AdherenceLine("cellulite", on_time=1, early=1, late=1, unbooked=1, plans_completed=1),
        AdherenceLine("hair_regrowth", unbooked=1),
        AdherenceLine("weight_loss", on_time=1, no_shows=1, plans_dropped=1),
    ]
    assert (lines[0].completed, lines[0].missed, lines[2].missed) == (3, 1, 1)
    total = adherence_total(lines)
    assert total == AdherenceLine(
        "all", on_time=2, early=1, late=1, no_shows=1, unbooked=2, plans_completed=1,
        plans_dropped=1,
    )  # fmt: skip
    assert adherence([], [], []) == []
    assert adherence_total([]) == AdherenceLine("all")


def visit(status: AppointmentStatus, hour: int, cancelled: datetime | None = None) -> Visit:
    return Visit(status, paris(MONDAY, hour), cancelled)


def test_the_no_show_rate_counts_what_came_due_and_was_marked() -> None:
    now = paris(MONDAY, 15)
    seen = attendance(
        [
            visit(AppointmentStatus.COMPLETED, 9),
            visit(AppointmentStatus.CHECKED_IN, 10),
            visit(AppointmentStatus.NO_SHOW, 11),
            visit(AppointmentStatus.CONFIRMED, 12),  # passed, unmarked
            visit(AppointmentStatus.BOOKED, 16),  # still to come
        ],
        cutoff=timedelta(hours=24),
        now=now,
    )
    assert (seen.booked, seen.attended, seen.no_shows, seen.unmarked) == (5, 2, 1, 1)
    assert seen.no_show_rate == 0.3333
    assert (seen.cancelled, seen.late_cancels, seen.late_cancel_rate) == (0, 0, 0.0)
    empty = attendance([], cutoff=timedelta(hours=24), now=now)
    assert (empty.no_show_rate, empty.late_cancel_rate) == (None, None)


def test_a_late_cancellation_is_one_within_the_cut_off_before_the_start() -> None:
    starts = paris(MONDAY, 10)
    cutoff = timedelta(hours=24)
    cancelled = AppointmentStatus.CANCELLED
    seen = attendance(
        [
            visit(cancelled, 10, starts - cutoff),  # just in time: not late
            visit(cancelled, 10, starts - cutoff + timedelta(seconds=1)),
            visit(cancelled, 10, starts + timedelta(minutes=5)),  # after it started
            visit(AppointmentStatus.COMPLETED, 10),
        ],
        cutoff=cutoff,
        now=starts,
    )
    assert (seen.booked, seen.cancelled, seen.late_cancels) == (4, 3, 2)
    assert seen.late_cancel_rate == 0.5


def span(day: date, start: tuple[int, int], end: tuple[int, int]) -> Interval:
    return Interval(paris(day, *start), paris(day, *end))


def test_spans_merge_and_lose_their_gaps() -> None:
    a, b, c = (
        span(MONDAY, (9, 0), (10, 0)),
        span(MONDAY, (9, 30), (11, 0)),
        span(MONDAY, (11, 0), (12, 0)),
    )
    assert merged([c, a, b]) == [span(MONDAY, (9, 0), (12, 0))]
    day = [span(MONDAY, (9, 0), (17, 0))]
    gaps = [span(MONDAY, (12, 0), (13, 0)), span(MONDAY, (16, 0), (18, 0))]
    assert without(day, gaps) == [span(MONDAY, (9, 0), (12, 0)), span(MONDAY, (13, 0), (16, 0))]
    assert overlap_minutes([span(MONDAY, (9, 0), (12, 0))], [b, b]) == 90


def test_open_time_is_weekly_hours_less_time_off_within_the_period() -> None:
    week = Period(MONDAY, MONDAY + timedelta(days=6))
    doctor = Resource(
        id=uuid.uuid4(),
        hours=[WeeklyHours(d, time(9), time(17)) for d in range(5)],  # Monday to Friday
        away=[span(MONDAY, (12, 0), (13, 0)), span(MONDAY + timedelta(days=9), (9, 0), (17, 0))],
        taken=[],
    )
    spans = open_time(doctor, week.span("Europe/Paris"), "Europe/Paris")
    assert sum((s.end - s.start for s in spans), timedelta()) == timedelta(hours=5 * 8 - 1)
    booked = [
        span(MONDAY, (10, 0), (10, 30)),
        span(MONDAY, (12, 30), (13, 30)),  # half of it in time off
        span(MONDAY + timedelta(days=5), (10, 0), (11, 0)),  # a Saturday: closed
        span(MONDAY + timedelta(days=7), (10, 0), (11, 0)),  # after the period
    ]
    used = usage(
        ResourceKind.PRACTITIONER, doctor, "Dr A", booked=booked, span=week.span("Europe/Paris"),
        time_zone="Europe/Paris",
    )  # fmt: skip
    assert (used.open_minutes, used.booked_minutes) == (2340, 60)
    assert used.utilisation == 0.0256
    both = usage_total(ResourceKind.PRACTITIONER, "All", [used, used])
    assert (both.id, both.open_minutes, both.booked_minutes) == (None, 4680, 120)


def test_open_time_follows_the_wall_clock_on_the_night_the_clocks_change() -> None:
    night = date(2027, 3, 28)  # 02:00-03:00 does not happen in Paris
    room = Resource(uuid.uuid4(), [WeeklyHours(night.weekday(), time(1), time(4))], [], [])
    spans = open_time(room, Period(night, night).span("Europe/Paris"), "Europe/Paris")
    assert sum((s.end - s.start for s in spans), timedelta()) == timedelta(hours=2)


def message(
    kind: MessageKind,
    status: MessageStatus,
    appointment_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> MessageFact:
    return MessageFact(uuid.uuid4(), kind, status, appointment_id, at or paris(MONDAY, 9))


def test_every_status_has_a_rank_and_only_forward_moves_rank_higher() -> None:
    assert set(STATUS_RANK) == set(MessageStatus)
    order = [MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.QUEUED,
             MessageStatus.SENT, MessageStatus.DELIVERED]  # fmt: skip
    assert [STATUS_RANK[s] for s in order] == sorted(STATUS_RANK[s] for s in order)


def test_sms_are_counted_per_kind_at_their_latest_status() -> None:
    lines = sms_by_kind(
        [
            message(MessageKind.CONFIRMATION, MessageStatus.DELIVERED),
            message(MessageKind.CONFIRMATION, MessageStatus.SENT),
            message(MessageKind.REMINDER_24H, MessageStatus.FAILED),
            message(MessageKind.REMINDER_24H, MessageStatus.UNDELIVERED),
            message(MessageKind.REMINDER_24H, MessageStatus.UNKNOWN),
            message(MessageKind.CREAM_READY, MessageStatus.SKIPPED),
            message(MessageKind.CREAM_READY, MessageStatus.REPLACED),
            message(MessageKind.INVITATION, MessageStatus.PENDING),
        ]
    )
    assert lines == [
        SmsLine(MessageKind.INVITATION),
        SmsLine(MessageKind.CONFIRMATION, sent=2, delivered=1),
        SmsLine(MessageKind.REMINDER_24H, sent=3, failed=2, in_doubt=1),
        SmsLine(MessageKind.CREAM_READY, not_sent=2),
    ]


def test_a_c_answers_its_appointments_latest_confirmation_sent_before_it() -> None:
    appointment = uuid.uuid4()
    first = message(
        MessageKind.CONFIRMATION, MessageStatus.DELIVERED, appointment, paris(MONDAY, 9)
    )
    moved = message(
        MessageKind.CONFIRMATION, MessageStatus.DELIVERED, appointment, paris(MONDAY, 11)
    )
    other = message(MessageKind.CONFIRMATION, MessageStatus.DELIVERED, uuid.uuid4())
    assert answered([first, moved, other], [Reply(appointment, paris(MONDAY, 10))]) == {
        first.message_id
    }
    assert answered([first, moved], [Reply(appointment, paris(MONDAY, 12))]) == {moved.message_id}
    assert answered([first], [Reply(appointment, paris(MONDAY, 8))]) == set()  # before any
    # One re-planned before it went (replaced) was never read: the one sent instead was.
    replaced = message(
        MessageKind.CONFIRMATION, MessageStatus.REPLACED, appointment, paris(MONDAY, 9)
    )
    reply = [Reply(appointment, paris(MONDAY, 9))]
    assert (
        answered([replaced, first], reply)
        == answered([first, replaced], reply)
        == {first.message_id}
    )
    assert answered([first], [Reply(uuid.uuid4(), paris(MONDAY, 10))]) == set()


def test_the_reply_rate_is_answered_confirmations_over_those_delivered() -> None:
    answered_one, unanswered, failed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    period = [
        message(MessageKind.CONFIRMATION, MessageStatus.DELIVERED, answered_one),
        message(MessageKind.CONFIRMATION, MessageStatus.DELIVERED, unanswered),
        message(MessageKind.CONFIRMATION, MessageStatus.FAILED, failed),
        message(MessageKind.REMINDER_24H, MessageStatus.DELIVERED, answered_one),
    ]
    replies = [Reply(answered_one, paris(MONDAY, 10)), Reply(failed, paris(MONDAY, 10))]
    found = confirmation_replies(period, period, replies)
    assert (found.delivered, found.answered, found.reply_rate) == (2, 1, 0.5)
    assert confirmation_replies([], [], []).reply_rate is None


def test_the_fill_rate_is_freed_slots_claimed_over_freed_slots_offered() -> None:
    filled, passed_over, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    summary = offer_summary(
        [
            OfferFact(filled, OfferStatus.EXPIRED),
            OfferFact(filled, OfferStatus.DECLINED),
            OfferFact(filled, OfferStatus.CLAIMED),
            OfferFact(passed_over, OfferStatus.EXPIRED),
            OfferFact(gone, OfferStatus.WITHDRAWN),
            OfferFact(gone, OfferStatus.LIVE),
        ]
    )
    assert (summary.freed_slots_offered, summary.freed_slots_claimed) == (3, 1)
    assert (summary.fill_rate, summary.offers_made) == (0.3333, 6)
    assert summary.offers == {
        OfferStatus.LIVE: 1, OfferStatus.CLAIMED: 1, OfferStatus.DECLINED: 1,
        OfferStatus.EXPIRED: 2, OfferStatus.WITHDRAWN: 1,
    }  # fmt: skip
    assert offer_summary([]).fill_rate is None
