"""Events of the booking service (topic ``booking.events``): appointments, invitations and
earlier-slot offers.

Every appointment event carries the whole appointment as it stands after the change
(:class:`AppointmentSnapshot`), with a ``version`` that grows with each change, so a
consumer can keep the newest and ignore a late older one.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from shared.events import TOPICS, Payload, event_type

TOPIC = TOPICS["booking"]


class AppointmentStatus(StrEnum):
    """Where an appointment stands (booking's lifecycle says how it moves)."""

    HELD = "held"
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


#: Statuses that keep a practitioner's and a room's time, and take the session's booking
#: request (no invitation for it makes sense any more).
ACTIVE = frozenset(
    {
        AppointmentStatus.HELD,
        AppointmentStatus.BOOKED,
        AppointmentStatus.CONFIRMED,
        AppointmentStatus.CHECKED_IN,
    }
)
#: Statuses of a session still to come, to be reminded of.
UPCOMING = frozenset({AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED})


class AppointmentSnapshot(Payload):
    """An appointment as it stands after the change the event reports."""

    appointment_id: uuid.UUID
    version: int
    status: AppointmentStatus
    patient_id: uuid.UUID
    plan_id: uuid.UUID | None
    booking_request_id: uuid.UUID | None
    session_number: int | None
    total_sessions: int | None
    treatment: str
    numbing_cream_advised: bool
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    location_time_zone: str
    starts_at: datetime
    ends_at: datetime
    #: Until when a held slot is kept (status "held" only).
    hold_expires_at: datetime | None = None
    #: Who or what caused the change, when it matters (e.g. "patient", "staff", "plan").
    changed_by: str | None = None
    reason: str | None = None

    #: What the event reports, in a word ("booked", "rescheduled"...), for people to read.
    change: ClassVar[str]

    def subject(self) -> str:
        return str(self.appointment_id)


@event_type("clinic.booking.appointment_held.v1", topic=TOPIC)
class AppointmentHeld(AppointmentSnapshot):
    """A slot is held for the patient until ``hold_expires_at`` (auto mode, self-booking)."""

    change = "held"


@event_type("clinic.booking.appointment_booked.v1", topic=TOPIC)
class AppointmentBooked(AppointmentSnapshot):
    """The appointment is booked: notify sends the confirmation and schedules reminders."""

    change = "booked"


@event_type("clinic.booking.appointment_confirmed.v1", topic=TOPIC)
class AppointmentConfirmed(AppointmentSnapshot):
    """The patient confirmed they will come (reply "C", or through their link)."""

    change = "confirmed"


@event_type("clinic.booking.appointment_rescheduled.v1", topic=TOPIC)
class AppointmentRescheduled(AppointmentSnapshot):
    """Same appointment, new time (version bumped): its pending messages are replaced."""

    change = "rescheduled"


@event_type("clinic.booking.appointment_checked_in.v1", topic=TOPIC)
class AppointmentCheckedIn(AppointmentSnapshot):
    """The patient arrived."""

    change = "checked in"


@event_type("clinic.booking.appointment_completed.v1", topic=TOPIC)
class AppointmentCompleted(AppointmentSnapshot):
    """The session took place: plans counts it and re-anchors later windows."""

    change = "completed"


@event_type("clinic.booking.appointment_no_show.v1", topic=TOPIC)
class AppointmentNoShow(AppointmentSnapshot):
    """The patient did not come: plans reopens the session's window."""

    change = "marked as a no-show"


@event_type("clinic.booking.appointment_cancelled.v1", topic=TOPIC)
class AppointmentCancelled(AppointmentSnapshot):
    """Cancelled by the patient, staff or a cancelled plan; a hold that expired too
    (``reason`` "hold expired"). notify drops pending messages and sends a notice
    for a booked appointment."""

    change = "cancelled"


#: Every event that reports an appointment's change.
APPOINTMENT_EVENTS: tuple[type[AppointmentSnapshot], ...] = (
    AppointmentHeld,
    AppointmentBooked,
    AppointmentConfirmed,
    AppointmentRescheduled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentNoShow,
    AppointmentCancelled,
)


@event_type("clinic.booking.booking_invitation_issued.v1", topic=TOPIC)
class BookingInvitationIssued(Payload):
    """Time for the patient to book (invite mode, or after replying "R"): notify texts the
    self-booking link. The link carries a token only the patient's SMS should see."""

    patient_id: uuid.UUID
    plan_id: uuid.UUID | None
    booking_request_id: uuid.UUID | None
    session_number: int | None
    total_sessions: int | None
    earliest_date: date | None
    latest_date: date | None
    link_url: str
    link_expires_at: datetime
    #: When the invitation follows a reschedule request, the appointment it is about.
    appointment_id: uuid.UUID | None = None

    def subject(self) -> str:
        return str(self.booking_request_id or self.patient_id)


class OfferStatus(StrEnum):
    """Where an earlier-slot offer stands (booking's offers say how it moves)."""

    #: Texted to the patient, who may claim it until ``claim_by``.
    LIVE = "live"
    #: The patient took it: their session is booked (or moved) into the freed time.
    CLAIMED = "claimed"
    #: The patient said no: the next patient gets it.
    DECLINED = "declined"
    #: Its claim window passed: the next patient gets it.
    EXPIRED = "expired"
    #: The time was taken by someone else, or the offer's premise went: nobody gets it.
    WITHDRAWN = "withdrawn"


@event_type("clinic.booking.slot_freed.v1", topic=TOPIC)
class SlotFreed(Payload):
    """A practitioner's and a room's time became free (an appointment cancelled, moved or
    run out): booking offers it to the patients who could use it, one at a time."""

    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    #: The appointment whose change freed it.
    appointment_id: uuid.UUID

    def subject(self) -> str:
        return str(self.appointment_id)


@event_type("clinic.booking.offer_made.v1", topic=TOPIC)
class OfferMade(Payload):
    """Freed time offered to one patient until ``claim_by``: notify texts the link while
    the offer is live (OfferClosed ends it)."""

    offer_id: uuid.UUID
    patient_id: uuid.UUID
    booking_request_id: uuid.UUID
    session_number: int
    total_sessions: int
    #: A booked session that would move earlier (None: an open session to book).
    appointment_id: uuid.UUID | None
    practitioner_id: uuid.UUID
    location_time_zone: str
    starts_at: datetime
    ends_at: datetime
    link_url: str
    claim_by: datetime

    def subject(self) -> str:
        return str(self.offer_id)


class OfferClosed(Payload):
    """An offer that is no longer live, and why."""

    offer_id: uuid.UUID
    patient_id: uuid.UUID
    status: OfferStatus
    reason: str | None = None

    def subject(self) -> str:
        return str(self.offer_id)


@event_type("clinic.booking.offer_claimed.v1", topic=TOPIC)
class OfferClaimed(OfferClosed):
    """The patient took the offer (its appointment's own event follows)."""


@event_type("clinic.booking.offer_expired.v1", topic=TOPIC)
class OfferExpired(OfferClosed):
    """Nobody claimed the offer in time: the next patient gets the slot."""


@event_type("clinic.booking.offer_declined.v1", topic=TOPIC)
class OfferDeclined(OfferClosed):
    """The patient said no: the next patient gets the slot."""


@event_type("clinic.booking.offer_withdrawn.v1", topic=TOPIC)
class OfferWithdrawn(OfferClosed):
    """The slot was taken by someone else, or the offer's premise went."""


#: Every event that ends an offer.
OFFER_CLOSED_EVENTS: tuple[type[OfferClosed], ...] = (
    OfferClaimed,
    OfferExpired,
    OfferDeclined,
    OfferWithdrawn,
)
