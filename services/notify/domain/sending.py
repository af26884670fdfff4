"""What is checked again at send time: a message planned days ago may no longer be wanted.

Pure: the claimed message, its patient's state, the policy, the patient's sends so far
and ``now`` in; a reason not to send (or a later due time) out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from notify.domain.kinds import SCHEDULED
from notify.domain.policy import MessagePolicy
from notify.domain.quiet_hours import quiet_hours_end_after
from shared.clock import is_quiet
from shared.contracts.notify import MessageKind

#: Kinds held back (not sent) in quiet hours when notify itself is late with them.
HELD_IN_QUIET_HOURS = SCHEDULED | {MessageKind.INVITATION, MessageKind.OFFER}
#: Why a message was not sent to a patient who had opted out; START re-plans them.
OPTED_OUT = "the patient opted out (STOP)"
TOO_LATE = "too late: no longer useful (the session is too close or has started)"


@dataclass(frozen=True)
class Claimed:
    """A claimed message and what sending it needs to know of its patient."""

    id: uuid.UUID
    patient_id: uuid.UUID
    appointment_id: uuid.UUID | None
    kind: str
    body: str
    due_at: datetime
    expires_at: datetime | None
    attempts: int
    phone: str | None
    time_zone: str | None
    sms_consent: bool
    opted_out: bool
    erased: bool
    #: The session time an appointment's message was planned for.
    session_starts_at: datetime | None = None
    #: The booking request a cycle's invitation asks the patient to book.
    booking_request_id: uuid.UUID | None = None
    #: The earlier-slot offer an offer message texts.
    offer_id: uuid.UUID | None = None
    #: The trace of the event that planned it: its send continues it.
    traceparent: str | None = None


def expired(message: Claimed, now: datetime) -> bool:
    return message.expires_at is not None and message.expires_at <= now


def reason_not_to_send(message: Claimed, now: datetime) -> str | None:
    """Why the message must not go out now at all (None: it may)."""
    if expired(message, now):
        if now - message.due_at > timedelta(minutes=5):
            return f"missed while notify was down; {TOO_LATE}"
        return TOO_LATE
    if message.erased:
        return "the patient was erased"
    if message.phone is None:
        return "no phone number for the patient"
    if not message.sms_consent:
        return "the patient has not consented to SMS"
    if message.opted_out:
        return OPTED_OUT
    return None


@dataclass(frozen=True)
class Held:
    """Not now: sent at ``until`` (status pending again), with why."""

    until: datetime
    reason: str


def held_for_quiet_hours(
    message: Claimed, policy: MessagePolicy, now: datetime
) -> Held | str | None:
    """A scheduled message notify is late with must not go out in the night.

    Returns when to send it instead, a reason to skip it (quiet hours last past its
    use), or None when it may go now.
    """
    if message.kind not in HELD_IN_QUIET_HOURS or message.time_zone is None:
        return None
    zone = ZoneInfo(message.time_zone)
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if not is_quiet(now, zone, start, end):
        return None
    morning = quiet_hours_end_after(now, zone, start, end)
    if message.expires_at is not None and morning >= message.expires_at:
        return "missed while notify was down; quiet hours last past its use"
    return Held(until=morning, reason="held: quiet hours")


class CapCounter:
    """The patient's SMS per local day and ISO week, to re-check the caps at send time.

    Caps were checked when the message was planned, but other messages (answers,
    invitations, messages of appointments booked since) may have gone out since.
    """

    def __init__(self, policy: MessagePolicy, sends: Iterable[tuple[uuid.UUID, datetime]]) -> None:
        self._policy = policy
        self._sends: dict[uuid.UUID, list[datetime]] = {}
        for patient_id, instant in sends:
            self._sends.setdefault(patient_id, []).append(instant)

    def reason_over_cap(self, message: Claimed, now: datetime) -> str | None:
        """Why sending ``message`` now would break a cap (None: within caps).

        Answers to what the patient or staff just did are never capped; they count.
        """
        if message.kind not in SCHEDULED or message.time_zone is None:
            return None
        zone = ZoneInfo(message.time_zone)
        today = now.astimezone(zone).date()
        days = [
            instant.astimezone(zone).date() for instant in self._sends.get(message.patient_id, [])
        ]
        if sum(day == today for day in days) >= self._policy.daily_cap:
            return (
                f"daily cap of {self._policy.daily_cap} messages for the patient reached when due"
            )
        week = today.isocalendar()[:2]
        if sum(day.isocalendar()[:2] == week for day in days) >= self._policy.weekly_cap:
            return (
                f"weekly cap of {self._policy.weekly_cap} messages for the patient reached when due"
            )
        return None

    def count(self, message: Claimed, now: datetime) -> None:
        """Count a message that is going out now."""
        self._sends.setdefault(message.patient_id, []).append(now)
