"""Request and response bodies of the plans API (internal types, not wire events)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contacts import Phone, TimeZone


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str = Field(min_length=1, max_length=200)
    phone: Phone
    time_zone: TimeZone
    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    sms_consent: bool
    sms_consent_source: str | None = Field(None, max_length=200)
    needle_sensitive: bool = False
    allergies: list[str] = Field(default_factory=list, max_length=50)
    medications: list[str] = Field(default_factory=list, max_length=50)
    notes: str = Field("", max_length=5000)


class PatientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    full_name: str
    phone: str
    time_zone: str
    language: str
    sms_consent: bool
    sms_consent_at: datetime | None
    sms_consent_source: str | None
    needle_sensitive: bool
    allergies: list[str]
    medications: list[str]
    notes: str
    created_at: datetime
    updated_at: datetime


class ProtocolOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    version: int
    name: str
    indication: str
    areas: list[str]
    session_count: int
    interval_days: int
    tolerance_days: int
    session_minutes: int
    numbing_cream_advised: bool


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID
    protocol_id: uuid.UUID
    areas: list[str] = Field(min_length=1)
    start_date: date
    preferred_practitioner_id: uuid.UUID | None = None


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    session_number: int
    target_date: date
    earliest_date: date
    latest_date: date
    status: str


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    protocol: ProtocolOut
    areas: list[str]
    start_date: date
    preferred_practitioner_id: uuid.UUID | None
    status: str
    time_zone: str
    created_at: datetime
    activated_at: datetime | None
    sessions: list[SessionOut]
