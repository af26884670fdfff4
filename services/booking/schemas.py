"""Request and response bodies of the booking API."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contacts import Phone, TimeZone


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    time_zone: TimeZone
    phone: Phone | None = None


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
    indication: str
    treatment: str
    session_minutes: int
    numbing_cream_advised: bool
    preferred_practitioner_id: uuid.UUID | None
    status: str


class AppointmentIn(BaseModel):
    """Staff book a session of a booking request on a practitioner, a room and a time."""

    model_config = ConfigDict(extra="forbid")

    booking_request_id: uuid.UUID
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    starts_at: AwareDatetime


class AppointmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version: int
    status: str
    patient_id: uuid.UUID
    booking_request_id: uuid.UUID | None
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
