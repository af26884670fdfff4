"""Request and response bodies of the booking API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from booking.domain.course import Choice
from booking.domain.request import RequestStatus
from shared.api import Instant
from shared.clock import LocalTime
from shared.contacts import IanaTimeZone, PhoneNumber
from shared.contracts.booking import AppointmentStatus, OfferStatus


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    time_zone: IanaTimeZone
    phone: PhoneNumber | None = None


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    time_zone: str
    phone: str | None


class PractitionerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location_id: uuid.UUID
    full_name: str = Field(min_length=1, max_length=200)
    indications: list[str] = Field(min_length=1)


class PractitionerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    location_id: uuid.UUID
    full_name: str
    indications: list[str]


class RoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location_id: uuid.UUID
    name: str = Field(min_length=1, max_length=100)


class RoomOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    location_id: uuid.UUID
    name: str


class BookingRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    plan_id: uuid.UUID
    patient_id: uuid.UUID
    session_number: int
    total_sessions: int
    target_date: date
    earliest_date: date
    latest_date: date
    #: The course's minimum gap between two sessions, as plans sent it (None: from before
    #: plans sent it; booking derives it from the windows).
    min_gap_days: int | None
    indication: str
    treatment: str
    session_minutes: int
    numbing_cream_advised: bool
    preferred_practitioner_id: uuid.UUID | None
    status: RequestStatus


class AppointmentIn(BaseModel):
    """Staff book a session of a booking request on a practitioner, a room and a time."""

    model_config = ConfigDict(extra="forbid")

    booking_request_id: uuid.UUID
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    starts_at: Instant
    #: Hold the slot (for the patient to confirm) instead of booking it.
    hold: StrictBool = False


class HoldIn(BaseModel):
    """A patient holds a slot found by the slot search."""

    model_config = ConfigDict(extra="forbid")

    booking_request_id: uuid.UUID
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    starts_at: Instant

    def choice(self) -> Choice:
        return Choice(self.booking_request_id, self.practitioner_id, self.room_id, self.starts_at)


class CourseIn(BaseModel):
    """Every open session of a plan, each on a practitioner, a room and a time."""

    model_config = ConfigDict(extra="forbid")

    sessions: list[HoldIn] = Field(min_length=1, max_length=52)

    def choices(self) -> list[Choice]:
        return [s.choice() for s in self.sessions]


class TransitionIn(BaseModel):
    """An optional reason, and the version the caller saw (409 if it moved on since)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)
    expected_version: StrictInt | None = None


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Instant
    practitioner_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    expected_version: StrictInt | None = None


class ShiftOut(BaseModel):
    """A later session the move pushes, and the first day it may now be on."""

    session_number: int
    day: date
    on_or_after: date


class SlotOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    #: The same start at the location and in the patient's own time zone.
    local_starts_at: datetime
    patient_starts_at: datetime
    practitioner_id: uuid.UUID
    room_id: uuid.UUID


class FreeDayOut(BaseModel):
    """A day of a session's window (the patient's own date) and how many times are free."""

    day: date
    free: int


ResourceKind = Literal["location", "practitioner", "room"]


class WeeklyHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    weekday: StrictInt = Field(ge=0, le=6, description="0 = Monday")
    opens: LocalTime
    closes: LocalTime


class TimeOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource_kind: ResourceKind
    resource_id: uuid.UUID
    starts_at: Instant
    ends_at: Instant
    reason: str | None = Field(None, max_length=200)


class TimeOffOut(TimeOffIn):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID


class AppointmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version: int
    status: AppointmentStatus
    patient_id: uuid.UUID
    booking_request_id: uuid.UUID | None
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime | None = None
    reason: str | None = None


class MovedOut(AppointmentOut):
    """The moved appointment, and the later sessions of its course it now pushes."""

    later_sessions_to_move: list[ShiftOut]


class ScheduleEntryOut(BaseModel):
    """One line of the day: who, which session, and where their messages stand."""

    appointment: AppointmentOut
    patient_name: str | None
    session_number: int | None
    total_sessions: int | None
    treatment: str | None
    numbing_cream_advised: bool
    confirmation_status: str | None
    reminder_status: str | None


class OfferOut(BaseModel):
    """An earlier-slot offer: the freed time, the session it is for, and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: OfferStatus
    patient_id: uuid.UUID
    booking_request_id: uuid.UUID
    #: The booked session the offer would move earlier (None: an open session).
    appointment_id: uuid.UUID | None
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    #: The freed time (the patient's session takes its own length from its start).
    freed_from: datetime
    freed_until: datetime
    claim_by: datetime
    created_at: datetime
    closed_at: datetime | None
    reason: str | None


class LinkOfferOut(OfferOut):
    """The offer a patient's link was texted for, with what the page shows of it."""

    session_number: int
    total_sessions: int
    practitioner_name: str
    location_time_zone: str
    #: When the session the offer would move earlier is booked now.
    moving_from: datetime | None


class OfferLineOut(OfferOut):
    """One offer on the staff's day."""

    patient_name: str | None
    session_number: int


class EarlierOffersIn(BaseModel):
    """Whether a patient's booked sessions may be offered freed time earlier in their
    window (null: the clinic's default, on for patients who have used a self-booking
    link)."""

    model_config = ConfigDict(extra="forbid")

    earlier_offers: StrictBool | None


class ProposedSessionOut(BaseModel):
    """One session of the rest of a course, as the page proposes it."""

    booking_request_id: uuid.UUID
    session_number: int
    #: The free time chosen (None: none in the session's window; call the clinic).
    slot: SlotOut | None
    #: When it would be at the booked session's weekday and time.
    wanted_starts_at: datetime | None
    #: Whether ``slot`` is that very time with the same practitioner (else an exception).
    as_wanted: bool


class CourseProposalOut(BaseModel):
    """The rest of the course at one weekday and time: each open session, and whether it
    can be booked whole (every session has a time)."""

    plan_id: uuid.UUID
    sessions: list[ProposedSessionOut]
    complete: bool
