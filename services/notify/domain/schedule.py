"""Which messages one appointment needs in its current state, and when each goes out.

:func:`plan_session_messages` is the whole rule set, pure: the appointment's start, the
patient's time zone and needs, the policy and ``now`` in; the planned messages out,
each either due at an instant or recorded as not sent with the reason why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from notify.domain.kinds import CAP_PRIORITY, SCHEDULED
from notify.domain.policy import IfBookedLate, MessagePolicy
from notify.domain.quiet_hours import local_instant, move_before_quiet_hours
from shared.clock import is_quiet
from shared.contracts.notify import MessageKind

#: Two messages of one appointment closer than this are one message: the later folds in.
FOLD_WINDOW = timedelta(minutes=60)


class Decision(StrEnum):
    SEND = "send"  # due at ``due_at``
    FOLDED = "folded"  # its content travels in another message of the same appointment
    SKIPPED = "skipped"  # not sent, ``reason`` says why


@dataclass(frozen=True)
class Session:
    """What the policy needs to know of an appointment and its patient."""

    starts_at: datetime
    time_zone: str
    #: The patient is needle-sensitive or the protocol advises numbing cream.
    numbing_cream: bool
    #: The change calls for a confirmation (booked, moved, or one still owed).
    confirm: bool
    #: Kinds already sent for this very start time: never sent twice.
    already_sent: frozenset[MessageKind] = frozenset()


@dataclass(frozen=True)
class PlannedMessage:
    """One message of the plan: when it goes out, or why it does not."""

    kind: MessageKind
    decision: Decision
    due_at: datetime | None
    #: Past this instant the message is useless: never sent (and Twilio drops it).
    useful_until: datetime
    reason: str | None = None
    #: Where a folded message's content went.
    folded_into: MessageKind | None = None
    #: Kinds whose content this message carries (folds into it).
    carries: tuple[MessageKind, ...] = field(default=())
    #: When to apply the numbing cream (cream messages, and a confirmation carrying them).
    apply_at: datetime | None = None


def plan_session_messages(
    session: Session,
    policy: MessagePolicy,
    *,
    now: datetime,
    other_sends: Sequence[datetime] = (),
) -> list[PlannedMessage]:
    """The messages an appointment needs now; ``other_sends`` are the patient's other
    messages' send times, which count against the daily and weekly caps."""
    # Arithmetic on a zone-aware datetime is wall-clock arithmetic: work in UTC only.
    session = replace(session, starts_at=session.starts_at.astimezone(UTC))
    now = now.astimezone(UTC)
    if session.starts_at <= now:
        return []
    zone = ZoneInfo(session.time_zone)
    apply_at = session.starts_at - _offset_of(session, policy, MessageKind.CREAM_APPLY, zone)
    scheduled = [
        _schedule(kind, session, policy, now, zone, apply_at)
        for kind in (
            MessageKind.CREAM_READY,
            MessageKind.REMINDER_24H,
            MessageKind.CREAM_APPLY,
            MessageKind.REMINDER_2H,
        )
        if kind not in session.already_sent and _wanted(kind, session, policy)
    ]
    scheduled = _fold_reminder_into_cream(scheduled)
    confirmation = None
    if session.confirm and MessageKind.CONFIRMATION not in session.already_sent:
        confirmation = PlannedMessage(
            kind=MessageKind.CONFIRMATION,
            decision=Decision.SEND,
            due_at=now,  # answers a booking just made: not held for quiet hours
            useful_until=session.starts_at,
        )
    scheduled = _settle_late(scheduled, confirmation, policy, now, zone)
    if confirmation is not None:
        carried = tuple(m.kind for m in scheduled if m.folded_into is MessageKind.CONFIRMATION)
        confirmation = replace(
            confirmation,
            carries=carried,
            apply_at=apply_at if MessageKind.CREAM_APPLY in carried else None,
        )
    planned = ([confirmation] if confirmation else []) + scheduled
    return _apply_caps(planned, policy, zone, other_sends)


def cancellation_notice(*, starts_at: datetime, now: datetime) -> PlannedMessage | None:
    """The notice a cancelled appointment gets, while it is still ahead."""
    if starts_at <= now:
        return None
    return PlannedMessage(
        kind=MessageKind.CANCELLATION,
        decision=Decision.SEND,
        due_at=now.astimezone(UTC),
        useful_until=starts_at.astimezone(UTC),
    )


def _wanted(kind: MessageKind, session: Session, policy: MessagePolicy) -> bool:
    if kind in (MessageKind.CREAM_READY, MessageKind.CREAM_APPLY) and not session.numbing_cream:
        return False
    return policy.timing(kind).enabled


def _offset_of(
    session: Session, policy: MessagePolicy, kind: MessageKind, zone: ZoneInfo
) -> timedelta:
    """How long before the start ``kind`` is due: calendar days locally, then minutes."""
    timing = policy.timing(kind)
    local = session.starts_at.astimezone(zone)
    day_shifted = local_instant(
        local.date() - timedelta(days=timing.days_before), local.time(), zone
    )
    due = day_shifted - timedelta(minutes=timing.minutes_before)
    return session.starts_at - due


def _useful_until(
    kind: MessageKind, session: Session, policy: MessagePolicy, apply_at: datetime
) -> datetime:
    starts = session.starts_at
    if kind is MessageKind.CREAM_APPLY:
        return starts - policy.cream_useful_until
    if kind is MessageKind.CREAM_READY:
        return apply_at  # no use getting the cream once it should be on
    if kind is MessageKind.REMINDER_24H:
        return starts - timedelta(hours=1)
    return starts - timedelta(minutes=15)


def _schedule(
    kind: MessageKind,
    session: Session,
    policy: MessagePolicy,
    now: datetime,
    zone: ZoneInfo,
    apply_at: datetime,
) -> PlannedMessage:
    nominal = session.starts_at - _offset_of(session, policy, kind, zone)
    due = move_before_quiet_hours(nominal, zone, policy.quiet_hours_start, policy.quiet_hours_end)
    reason = None
    if due != nominal:
        reason = f"moved earlier out of quiet hours (nominally {_local(nominal, zone)})"
    cream = kind in (MessageKind.CREAM_READY, MessageKind.CREAM_APPLY)
    return PlannedMessage(
        kind=kind,
        decision=Decision.SEND,
        due_at=due,
        useful_until=_useful_until(kind, session, policy, apply_at),
        reason=reason,
        apply_at=apply_at if cream else None,
    )


def _fold_reminder_into_cream(scheduled: list[PlannedMessage]) -> list[PlannedMessage]:
    """An early session's 2 h reminder moved next to the evening cream message is one SMS
    too many: the cream message already names the session's time."""
    by_kind = {m.kind: m for m in scheduled}
    apply, reminder = by_kind.get(MessageKind.CREAM_APPLY), by_kind.get(MessageKind.REMINDER_2H)
    if apply is None or reminder is None or apply.due_at is None or reminder.due_at is None:
        return scheduled
    if abs(apply.due_at - reminder.due_at) >= FOLD_WINDOW:
        return scheduled
    folded = replace(
        reminder,
        decision=Decision.FOLDED,
        due_at=None,
        folded_into=MessageKind.CREAM_APPLY,
        reason="folded into the numbing-cream message, which names the session's time",
    )
    carrying = replace(apply, carries=(*apply.carries, MessageKind.REMINDER_2H))
    return [carrying if m is apply else folded if m is reminder else m for m in scheduled]


def _settle_late(
    scheduled: list[PlannedMessage],
    confirmation: PlannedMessage | None,
    policy: MessagePolicy,
    now: datetime,
    zone: ZoneInfo,
) -> list[PlannedMessage]:
    """Apply the late-booking policy to messages whose send time has already passed."""
    settled = []
    for message in scheduled:
        if message.decision is not Decision.SEND or message.due_at is None or message.due_at > now:
            settled.append(message)
            continue
        rule = policy.timing(message.kind).if_booked_late
        settled.append(_late(message, rule, confirmation is not None, policy, now, zone))
    return settled


def _late(
    message: PlannedMessage,
    rule: IfBookedLate,
    has_confirmation: bool,
    policy: MessagePolicy,
    now: datetime,
    zone: ZoneInfo,
) -> PlannedMessage:
    def fold() -> PlannedMessage:
        return replace(
            message,
            decision=Decision.FOLDED,
            due_at=None,
            folded_into=MessageKind.CONFIRMATION,
            reason=f"booked late: folded into the confirmation ({rule.value} policy)",
        )

    def skip(why: str) -> PlannedMessage:
        return replace(message, decision=Decision.SKIPPED, due_at=None, reason=why)

    if message.useful_until <= now:
        return skip("booked late: too close to the session to be useful")
    if rule is IfBookedLate.SKIP:
        return skip("booked late: its send time had passed (skip policy)")
    if rule is IfBookedLate.FOLD and has_confirmation:
        return fold()
    if is_quiet(now, zone, policy.quiet_hours_start, policy.quiet_hours_end):
        if has_confirmation:
            return fold()
        return skip("booked late, in quiet hours: not sent in the night")
    return replace(message, due_at=now, reason=f"booked late: sent at once ({rule.value} policy)")


def _apply_caps(
    planned: list[PlannedMessage],
    policy: MessagePolicy,
    zone: ZoneInfo,
    other_sends: Iterable[datetime],
) -> list[PlannedMessage]:
    """Skip scheduled messages, least useful first, that would break a per-patient cap."""
    per_day: Counter[object] = Counter()
    per_week: Counter[object] = Counter()

    def count(instant: datetime) -> None:
        local = instant.astimezone(zone).date()
        per_day[local] += 1
        per_week[local.isocalendar()[:2]] += 1

    for instant in other_sends:
        count(instant)
    for answer in planned:
        if answer.kind not in SCHEDULED and answer.due_at is not None:
            count(answer.due_at)  # answers to the patient's own actions are never capped
    by_kind = {m.kind: m for m in planned}
    capped: dict[MessageKind, PlannedMessage] = {}
    for kind in CAP_PRIORITY:
        message = by_kind.get(kind)
        if message is None or message.due_at is None:
            continue
        local = message.due_at.astimezone(zone).date()
        if per_day[local] >= policy.daily_cap:
            why = f"daily cap of {policy.daily_cap} messages for the patient reached"
        elif per_week[local.isocalendar()[:2]] >= policy.weekly_cap:
            why = f"weekly cap of {policy.weekly_cap} messages for the patient reached"
        else:
            count(message.due_at)
            continue
        capped[kind] = replace(message, decision=Decision.SKIPPED, due_at=None, reason=why)
    return [capped.get(m.kind, m) for m in planned]


def _local(instant: datetime, zone: ZoneInfo) -> str:
    return f"{instant.astimezone(zone):%Y-%m-%d %H:%M}"
