"""Staff reports: what each figure counts, from the facts the report queries gathered.

Pure: no I/O, ``now`` and ``today`` passed in. A period is a span of dates at the
location (``first`` to ``last``, both included), cut at its midnights. docs/reports.md
says what every figure means; the functions here are those definitions.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from booking.domain.availability import Interval, Resource, opening_intervals, wall_clock
from shared.contracts.booking import AppointmentStatus, OfferStatus
from shared.contracts.notify import MessageKind, MessageStatus

#: The longest period a report covers: a year, leap day included.
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Dates at a location, ``first`` to ``last`` included."""

    first: date
    last: date

    def refusal(self) -> str | None:
        """Why a report cannot cover this period, or None when it can."""
        if self.last < self.first:
            return f"to ({self.last}) must be on or after from ({self.first})"
        if self.days > MAX_PERIOD_DAYS:
            return (
                f"a report covers at most {MAX_PERIOD_DAYS} days; "
                f"{self.first} to {self.last} is {self.days}"
            )
        return None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def span(self, time_zone: str) -> Interval:
        """From the first day's midnight to the midnight after the last, there."""
        zone = ZoneInfo(time_zone)
        return Interval(
            wall_clock(self.first, time(0), zone),
            wall_clock(self.last + timedelta(days=1), time(0), zone),
        )

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


def rate(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` as a fraction (4 decimals); None when there is no whole."""
    return round(part / whole, 4) if whole else None


# Course adherence.


class Punctuality(StrEnum):
    """When a session took place against its window."""

    ON_TIME = "on_time"  # inside its window
    EARLY = "early"  # before it (possible only when plans moved the window after booking)
    LATE = "late"  # after it


def punctuality(day: date, *, earliest: date, latest: date) -> Punctuality:
    if day > latest:
        return Punctuality.LATE
    if day < earliest:
        return Punctuality.EARLY
    return Punctuality.ON_TIME


@dataclass(frozen=True)
class SessionOutcome:
    """A course session's appointment that came due: completed or a no-show."""

    indication: str
    status: AppointmentStatus
    #: Its date at the location.
    day: date
    earliest: date
    latest: date


class PlanOutcome(StrEnum):
    COMPLETED = "completed"
    DROPPED = "dropped"


@dataclass(frozen=True)
class AdherenceLine:
    """One indication's course adherence over the period (or every indication's: "all")."""

    indication: str
    on_time: int = 0
    early: int = 0
    late: int = 0
    no_shows: int = 0
    #: Windows that closed with their session never booked.
    unbooked: int = 0
    plans_completed: int = 0
    plans_dropped: int = 0

    @property
    def completed(self) -> int:
        return self.on_time + self.early + self.late

    @property
    def missed(self) -> int:
        return self.no_shows + self.unbooked


def window_closed(latest: date, *, today: date) -> bool:
    """A window has closed once its last day is over at the location."""
    return latest < today


def adherence(
    sessions: Iterable[SessionOutcome],
    closed_unbooked: Iterable[str],
    plans: Iterable[tuple[str, PlanOutcome]],
) -> list[AdherenceLine]:
    """Per indication, in name order: sessions completed on time, early or late, no-shows,
    windows closed unbooked (``closed_unbooked``: the indication of each), and plans
    completed or dropped (``plans``: indication and outcome of each)."""
    counts: Counter[tuple[str, str]] = Counter()
    for held in sessions:
        if held.status is AppointmentStatus.NO_SHOW:
            counts[held.indication, "no_shows"] += 1
        elif held.status is AppointmentStatus.COMPLETED:
            when = punctuality(held.day, earliest=held.earliest, latest=held.latest)
            counts[held.indication, when.value] += 1
    for indication in closed_unbooked:
        counts[indication, "unbooked"] += 1
    for indication, outcome in plans:
        counts[indication, f"plans_{outcome.value}"] += 1
    return [
        AdherenceLine(
            indication,
            on_time=counts[indication, "on_time"],
            early=counts[indication, "early"],
            late=counts[indication, "late"],
            no_shows=counts[indication, "no_shows"],
            unbooked=counts[indication, "unbooked"],
            plans_completed=counts[indication, "plans_completed"],
            plans_dropped=counts[indication, "plans_dropped"],
        )
        for indication in sorted({indication for indication, _ in counts})
    ]


def adherence_total(lines: Sequence[AdherenceLine]) -> AdherenceLine:
    """Every indication together."""
    return AdherenceLine(
        "all",
        on_time=sum(line.on_time for line in lines),
        early=sum(line.early for line in lines),
        late=sum(line.late for line in lines),
        no_shows=sum(line.no_shows for line in lines),
        unbooked=sum(line.unbooked for line in lines),
        plans_completed=sum(line.plans_completed for line in lines),
        plans_dropped=sum(line.plans_dropped for line in lines),
    )


# No-shows and late cancellations.


@dataclass(frozen=True)
class Visit:
    """An appointment of the period that was booked (not a hold, nor a hold that ran out)."""

    status: AppointmentStatus
    starts_at: datetime
    #: When it was cancelled (status cancelled only).
    cancelled_at: datetime | None = None


#: The patient came.
ATTENDED = frozenset({AppointmentStatus.CHECKED_IN, AppointmentStatus.COMPLETED})
#: Still to happen, or happened with nobody marking it yet.
STILL_BOOKED = frozenset({AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED})


@dataclass(frozen=True)
class Attendance:
    booked: int
    attended: int
    no_shows: int
    #: Booked or confirmed appointments whose start has passed, neither checked in nor
    #: marked a no-show: not in the no-show rate until someone marks them.
    unmarked: int
    cancelled: int
    late_cancels: int

    @property
    def no_show_rate(self) -> float | None:
        """No-shows among the appointments that came due and were marked."""
        return rate(self.no_shows, self.attended + self.no_shows)

    @property
    def late_cancel_rate(self) -> float | None:
        """Late cancellations among every appointment booked for the period."""
        return rate(self.late_cancels, self.booked)


def late_cancel(visit: Visit, cutoff: timedelta) -> bool:
    """Cancelled less than ``cutoff`` before its start (or after it)."""
    return (
        visit.status is AppointmentStatus.CANCELLED
        and visit.cancelled_at is not None
        and visit.starts_at - visit.cancelled_at < cutoff
    )


def attendance(visits: Iterable[Visit], *, cutoff: timedelta, now: datetime) -> Attendance:
    """No-shows and late cancellations of the appointments booked for the period."""
    seen = list(visits)
    return Attendance(
        booked=len(seen),
        attended=sum(v.status in ATTENDED for v in seen),
        no_shows=sum(v.status is AppointmentStatus.NO_SHOW for v in seen),
        unmarked=sum(v.status in STILL_BOOKED and v.starts_at <= now for v in seen),
        cancelled=sum(v.status is AppointmentStatus.CANCELLED for v in seen),
        late_cancels=sum(late_cancel(v, cutoff) for v in seen),
    )


# Utilisation.


def merged(spans: Iterable[Interval]) -> list[Interval]:
    """The same time as ``spans``, sorted, overlapping and touching spans joined."""
    joined: list[Interval] = []
    for span in sorted(spans):
        if joined and span.start <= joined[-1].end:
            if span.end > joined[-1].end:
                joined[-1] = Interval(joined[-1].start, span.end)
        else:
            joined.append(span)
    return joined


def without(spans: Iterable[Interval], gaps: Iterable[Interval]) -> list[Interval]:
    """``spans`` less the time of ``gaps``."""
    cuts = merged(gaps)
    kept: list[Interval] = []
    for span in merged(spans):
        start = span.start
        for cut in cuts:
            if cut.end <= start or cut.start >= span.end:
                continue
            if cut.start > start:
                kept.append(Interval(start, cut.start))
            start = max(start, cut.end)
        if start < span.end:
            kept.append(Interval(start, span.end))
    return kept


def overlap_minutes(left: Iterable[Interval], right: Iterable[Interval]) -> int:
    """Whole minutes where ``left`` and ``right`` both hold (each merged first)."""
    a, b = merged(left), merged(right)
    i = j = 0
    seconds = 0.0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if start < end:
            seconds += (end - start).total_seconds()
        if a[i].end <= b[j].end:
            i += 1
        else:
            j += 1
    return int(seconds // 60)


def minutes(spans: Iterable[Interval]) -> int:
    return int(sum((s.end - s.start).total_seconds() for s in merged(spans)) // 60)


def open_time(resource: Resource, span: Interval, time_zone: str) -> list[Interval]:
    """When ``resource`` is open within ``span``: its weekly hours (its own, else its
    location's, as availability reads them), less its time off and its location's
    closures (``resource.away``)."""
    zone = ZoneInfo(time_zone)
    first = span.start.astimezone(zone).date()
    last = span.end.astimezone(zone).date()
    clipped = [
        Interval(max(s.start, span.start), min(s.end, span.end))
        for s in opening_intervals(resource.hours, first, last, time_zone)
        if s.overlaps(span)
    ]
    return without(clipped, resource.away)


class ResourceKind(StrEnum):
    PRACTITIONER = "practitioner"
    ROOM = "room"


@dataclass(frozen=True)
class Usage:
    """A practitioner's or a room's booked minutes over their open minutes."""

    kind: ResourceKind
    id: uuid.UUID | None
    name: str
    open_minutes: int
    booked_minutes: int

    @property
    def utilisation(self) -> float | None:
        return rate(self.booked_minutes, self.open_minutes)


def usage(
    kind: ResourceKind,
    resource: Resource,
    name: str,
    *,
    booked: Iterable[Interval],
    span: Interval,
    time_zone: str,
) -> Usage:
    """``booked``: the resource's booked appointments (session time, buffers left out);
    only what lies inside its open time counts."""
    open_spans = open_time(resource, span, time_zone)
    return Usage(kind, resource.id, name, minutes(open_spans), overlap_minutes(open_spans, booked))


def usage_total(kind: ResourceKind, name: str, lines: Iterable[Usage]) -> Usage:
    """Every resource of a kind together."""
    seen = list(lines)
    return Usage(
        kind,
        None,
        name,
        sum(u.open_minutes for u in seen),
        sum(u.booked_minutes for u in seen),
    )


# SMS.

#: The order a message's statuses go in (as notify moves them: only forward), so that a
#: late or replayed event never takes a message back; decisions not to send end it too.
STATUS_RANK: dict[MessageStatus, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.QUEUED: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.UNDELIVERED: 4,
    MessageStatus.FAILED: 4,
    MessageStatus.SKIPPED: 4,
    MessageStatus.REPLACED: 4,
}
#: Handed to Twilio, or tried: the message left notify.
SENT = frozenset(
    {
        MessageStatus.QUEUED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.UNKNOWN,
    }
)
FAILED = frozenset({MessageStatus.FAILED, MessageStatus.UNDELIVERED})
#: Decided not to send: skipped (no consent, premise gone...) or replaced before it went.
NOT_SENT = frozenset({MessageStatus.SKIPPED, MessageStatus.REPLACED})


@dataclass(frozen=True)
class MessageFact:
    """An SMS as the read model keeps it: its latest status."""

    message_id: uuid.UUID
    kind: MessageKind
    status: MessageStatus
    appointment_id: uuid.UUID | None
    #: When notify first reported it (sent, or decided not to send).
    first_at: datetime


@dataclass(frozen=True)
class SmsLine:
    kind: MessageKind
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    #: Sent, but whether Twilio has it is unknown (notify reconciles, never resends).
    in_doubt: int = 0
    not_sent: int = 0


def sms_by_kind(messages: Iterable[MessageFact]) -> list[SmsLine]:
    """Per kind of message, in the contract's order, those that have any."""
    by_kind: dict[MessageKind, list[MessageStatus]] = {}
    for message in messages:
        by_kind.setdefault(message.kind, []).append(message.status)
    return [
        SmsLine(
            kind,
            sent=sum(s in SENT for s in by_kind[kind]),
            delivered=sum(s is MessageStatus.DELIVERED for s in by_kind[kind]),
            failed=sum(s in FAILED for s in by_kind[kind]),
            in_doubt=sum(s is MessageStatus.UNKNOWN for s in by_kind[kind]),
            not_sent=sum(s in NOT_SENT for s in by_kind[kind]),
        )
        for kind in MessageKind
        if kind in by_kind
    ]


@dataclass(frozen=True)
class Reply:
    """A patient's "C" about an appointment."""

    appointment_id: uuid.UUID
    received_at: datetime


def answered(confirmations: Iterable[MessageFact], replies: Iterable[Reply]) -> set[uuid.UUID]:
    """The confirmation messages a "C" answered: each reply answers its appointment's
    latest confirmation sent (not skipped nor replaced) and first reported at or before it
    (a moved appointment is texted a new confirmation; a reply before that one answers
    the one before)."""
    by_appointment: dict[uuid.UUID, list[MessageFact]] = {}
    for message in confirmations:
        if (
            message.kind is MessageKind.CONFIRMATION
            and message.appointment_id is not None
            and message.status in SENT
        ):
            by_appointment.setdefault(message.appointment_id, []).append(message)
    found: set[uuid.UUID] = set()
    for reply in replies:
        earlier = [
            m
            for m in by_appointment.get(reply.appointment_id, [])
            if m.first_at <= reply.received_at
        ]
        if earlier:
            found.add(max(earlier, key=lambda m: (m.first_at, str(m.message_id))).message_id)
    return found


@dataclass(frozen=True)
class ConfirmationReplies:
    delivered: int
    answered: int

    @property
    def reply_rate(self) -> float | None:
        return rate(self.answered, self.delivered)


def confirmation_replies(
    messages: Iterable[MessageFact],
    confirmations: Iterable[MessageFact],
    replies: Iterable[Reply],
) -> ConfirmationReplies:
    """Of the confirmations delivered among ``messages`` (the period's), how many a "C"
    answered. ``confirmations``: every confirmation of their appointments, whenever sent
    (to tell which one each reply answers)."""
    delivered = [
        m.message_id
        for m in messages
        if m.kind is MessageKind.CONFIRMATION and m.status is MessageStatus.DELIVERED
    ]
    replied = answered(confirmations, replies)
    return ConfirmationReplies(len(delivered), sum(m in replied for m in delivered))


# Earlier-slot offers (the waitlist).


@dataclass(frozen=True)
class OfferFact:
    """An offer of freed time: what freed it (one id per freed slot) and how it stands."""

    freed_by: uuid.UUID
    status: OfferStatus


@dataclass(frozen=True)
class OfferSummary:
    freed_slots_offered: int
    freed_slots_claimed: int
    #: Offers made, by how each stands (every status, in the contract's order).
    offers: dict[OfferStatus, int]

    @property
    def fill_rate(self) -> float | None:
        return rate(self.freed_slots_claimed, self.freed_slots_offered)

    @property
    def offers_made(self) -> int:
        return sum(self.offers.values())


def offer_summary(offers: Iterable[OfferFact]) -> OfferSummary:
    """Freed slots offered to at least one patient, those one of them claimed, and every
    offer by status."""
    seen = list(offers)
    by_status = Counter(o.status for o in seen)
    return OfferSummary(
        freed_slots_offered=len({o.freed_by for o in seen}),
        freed_slots_claimed=len({o.freed_by for o in seen if o.status is OfferStatus.CLAIMED}),
        offers={status: by_status[status] for status in OfferStatus},
    )
