"""Earlier-slot offers: time a cancellation (or a move) freed, offered to one patient at a
time, best first, within every course rule.

Pure: :func:`candidates_for` takes the freed slot, the patients who could use it (an
open session of a course, or a booked one later in its window whose patient opted in to
earlier offers), the policy and ``now``, and gives the eligible ones in the order offers
go to them. :data:`OFFER_TRANSITIONS` is an offer's life (``OfferStatus``, the contracts'):
made live, then claimed, declined, expired or withdrawn, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from booking.domain.availability import local_date
from booking.domain.course import Allowed
from booking.domain.errors import StateConflict
from shared.clock import is_quiet
from shared.contracts.booking import OfferStatus


class OfferAction(StrEnum):
    CLAIM = "claim"
    DECLINE = "decline"
    EXPIRE = "expire"
    WITHDRAW = "withdraw"


#: An offer's whole life: only a live offer changes, once.
OFFER_TRANSITIONS: dict[tuple[OfferStatus, OfferAction], OfferStatus] = {
    (OfferStatus.LIVE, OfferAction.CLAIM): OfferStatus.CLAIMED,
    (OfferStatus.LIVE, OfferAction.DECLINE): OfferStatus.DECLINED,
    (OfferStatus.LIVE, OfferAction.EXPIRE): OfferStatus.EXPIRED,
    (OfferStatus.LIVE, OfferAction.WITHDRAW): OfferStatus.WITHDRAWN,
}
#: Endings after which the slot goes on to the next patient.
PASSED_ON = frozenset({OfferStatus.DECLINED, OfferStatus.EXPIRED})


class OfferClosed(StateConflict):
    """The offer is no longer live: says how it ended."""


def next_offer_status(status: OfferStatus, action: OfferAction) -> OfferStatus:
    """The status ``action`` leads to, or refused (409) naming how the offer ended."""
    try:
        return OFFER_TRANSITIONS[status, action]
    except KeyError:
        raise OfferClosed(f"this offer is {status.value}", offer_status=status.value) from None


@dataclass(frozen=True)
class FreedSlot:
    """Time that became free: a practitioner and a room from ``starts_at`` for
    ``minutes`` (the freed session's own length), at a location."""

    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    time_zone: str
    starts_at: datetime
    minutes: int
    #: What the practitioner treats.
    indications: frozenset[str]

    @property
    def day(self) -> date:
        return local_date(self.starts_at, self.time_zone)


@dataclass(frozen=True)
class Candidate:
    """A patient's session that could take the freed time."""

    booking_request_id: uuid.UUID
    patient_id: uuid.UUID
    session_number: int
    indication: str
    session_minutes: int
    earliest_date: date
    latest_date: date
    #: Since when the session has waited to be booked (its request opened).
    waiting_since: datetime
    #: The days the course's spacing rule allows this session on.
    allowed: Allowed
    #: The practitioner of the patient's previous session of the course, if any.
    previous_practitioner_id: uuid.UUID | None
    #: The patient's time zone (quiet hours are theirs).
    time_zone: str
    #: Offers the patient was made today (their day).
    offers_today: int
    #: None: an open session. Else its booked appointment, later, that could move earlier
    #: (only when the patient opted in to earlier offers).
    appointment_id: uuid.UUID | None = None
    appointment_starts_at: datetime | None = None
    #: Offers of this very slot the patient already had (declined or let expire).
    already_offered: bool = False


@dataclass(frozen=True)
class OfferPolicy:
    """The clinic's rules for offers."""

    #: How long a patient has to claim an offer.
    claim_window: timedelta = timedelta(minutes=30)
    #: At most this many offers a patient gets a day.
    daily_cap: int = 2
    #: No offer for a slot sooner than this (the clinic's minimum notice).
    minimum_notice: timedelta = timedelta(hours=2)
    #: The patient's quiet hours: no offer texted then (the next patient gets it). These
    #: are notify's defaults; the clinic's own come from its policy (QuietHoursChanged).
    quiet_start: time = time(21)
    quiet_end: time = time(8)


def candidates_for(
    slot: FreedSlot, candidates: Iterable[Candidate], *, now: datetime, policy: OfferPolicy
) -> list[Candidate]:
    """The candidates who may be offered ``slot`` now, best first: open sessions before
    booked ones that could move earlier; then the session closest to its window's end;
    then the patient who had this practitioner before; then who has waited longest.

    Nobody is offered a slot inside the minimum notice, one already offered to them, one
    outside their session's window or that the spacing rule forbids, one too short for
    their session, one with a practitioner who does not treat them, a later session
    earlier than it already is, past their daily cap or in their quiet hours."""
    if slot.starts_at - now < policy.minimum_notice:
        return []
    eligible = [c for c in candidates if _may_be_offered(slot, c, now=now, policy=policy)]
    return sorted(
        eligible,
        key=lambda c: (
            c.appointment_id is not None,
            c.latest_date,
            c.previous_practitioner_id != slot.practitioner_id,
            c.waiting_since,
            str(c.booking_request_id),
        ),
    )


def _may_be_offered(slot: FreedSlot, c: Candidate, *, now: datetime, policy: OfferPolicy) -> bool:
    day = slot.day
    return (
        not c.already_offered
        and c.indication in slot.indications
        and c.session_minutes <= slot.minutes
        and c.earliest_date <= day <= c.latest_date
        and c.allowed.holds(day)
        and (c.appointment_starts_at is None or slot.starts_at < c.appointment_starts_at)
        and c.offers_today < policy.daily_cap
        and not is_quiet(now, ZoneInfo(c.time_zone), policy.quiet_start, policy.quiet_end)
    )
