"""Request and response bodies of the plans API (internal types, not wire events)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from plans.adapters.db import Plan, PlanSession
from plans.domain.cycle import Cadence, CadenceError
from plans.domain.progress import Progress
from shared.api import Day, only_what_is_sent
from shared.contacts import IanaTimeZone, PhoneNumber

Area = Literal[
    "abdomen", "thighs", "buttocks", "knees", "ankles", "face",
    "neck", "scalp", "arms", "back", "legs", "hands",
]  # fmt: skip
#: The spaces strip_whitespace trims: Unicode White_Space (Python's \s adds \x1c-\x1f).
_SPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: An allergy or medication: some text that is not only spaces.
Item = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=f"[^{_SPACE}]"),
]
Items = Annotated[list[Item], Field(max_length=50)]
Notes = Annotated[str, Field(max_length=5000)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Indication = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str = Field(min_length=1, max_length=200)
    phone: PhoneNumber
    time_zone: IanaTimeZone
    language: Language = "en"
    sms_consent: StrictBool
    #: How consent was given ("signed intake form", "verbal, at the desk"...).
    sms_consent_source: str | None = Field(None, max_length=200)
    needle_sensitive: StrictBool = False
    allergies: list[Item] = Field(default_factory=list, max_length=50)
    allergy_notes: str = Field("", max_length=5000)
    medications: list[Item] = Field(default_factory=list, max_length=50)
    medication_notes: str = Field("", max_length=5000)
    notes: str = Field("", max_length=5000)


class PatientPatch(BaseModel):
    """Only the fields sent change; ``null`` is refused where a value is required."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=only_what_is_sent("sms_consent_source")
    )

    full_name: str | None = Field(None, min_length=1, max_length=200)
    phone: PhoneNumber | None = None
    time_zone: IanaTimeZone | None = None
    language: Language | None = None
    sms_consent: StrictBool | None = None
    sms_consent_source: str | None = Field(None, max_length=200)
    needle_sensitive: StrictBool | None = None
    allergies: Items | None = None
    allergy_notes: Notes | None = None
    medications: Items | None = None
    medication_notes: Notes | None = None
    notes: Notes | None = None


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
    allergy_notes: str
    medications: list[str]
    medication_notes: str
    notes: str
    created_at: datetime
    updated_at: datetime


def default_min_gap(interval_days: int, tolerance_days: int) -> int:
    """A protocol's minimum gap when it names none: the closest two windows allow."""
    return interval_days - tolerance_days


class ProtocolFields(BaseModel):
    """A protocol's clinical numbers, checked together: windows must not overlap."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    indication: Indication = Field(
        description="e.g. cellulite, weight_loss, hair_regrowth, medical"
    )
    areas: list[Area] = Field(min_length=1)
    session_count: StrictInt = Field(ge=1, le=30)
    interval_days: StrictInt = Field(ge=1, le=365)
    tolerance_days: StrictInt = Field(ge=0, le=182)
    #: The least number of days between two sessions of a cycle; booking refuses any
    #: closer. Defaults to interval_days - tolerance_days (the closest two windows allow).
    min_gap_days: StrictInt | None = Field(
        None,
        description="0 < min_gap_days <= interval_days; default interval - tolerance",
        # Checked with interval_days, and refused with both in the reason.
        json_schema_extra={"minimum": 1, "maximum": 365},
    )
    session_minutes: StrictInt = Field(ge=5, le=480)
    numbing_cream_advised: StrictBool
    maintenance_sessions: StrictInt = Field(0, ge=0, le=30)
    maintenance_interval_days: StrictInt | None = Field(None, ge=1, le=730)

    @model_validator(mode="after")
    def _makes_a_cycle(self) -> ProtocolFields:
        try:
            self.cadence()
        except CadenceError as error:
            raise ValueError(str(error)) from None
        if self.min_gap_days is None:
            self.min_gap_days = default_min_gap(self.interval_days, self.tolerance_days)
        elif not 0 < self.min_gap_days <= self.interval_days:
            raise ValueError(
                f"min_gap_days must be more than 0 and at most interval_days "
                f"({self.interval_days}), not {self.min_gap_days}"
            )
        return self

    def cadence(self) -> Cadence:
        return Cadence.of(self)


class ProtocolIn(ProtocolFields):
    #: Stable across versions, e.g. "cellulite" or "scalp-intensive".
    key: Slug


class ProtocolChanges(BaseModel):
    """A new version: what differs from the version it is based on."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    areas: list[Area] | None = Field(None, min_length=1)
    session_count: StrictInt | None = Field(None, ge=1, le=30)
    interval_days: StrictInt | None = Field(None, ge=1, le=365)
    tolerance_days: StrictInt | None = Field(None, ge=0, le=182)
    #: Not given: kept when the base's was set apart from its default, else re-derived.
    min_gap_days: StrictInt | None = Field(None, json_schema_extra={"minimum": 1, "maximum": 365})
    session_minutes: StrictInt | None = Field(None, ge=5, le=480)
    numbing_cream_advised: StrictBool | None = None
    maintenance_sessions: StrictInt | None = Field(None, ge=0, le=30)
    maintenance_interval_days: StrictInt | None = Field(None, ge=1, le=730)


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
    min_gap_days: int
    session_minutes: int
    numbing_cream_advised: bool
    maintenance_sessions: int
    maintenance_interval_days: int | None
    created_at: datetime
    retired_at: datetime | None


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID
    protocol_id: uuid.UUID
    areas: list[Area] = Field(min_length=1, max_length=12)
    start_date: Day
    preferred_practitioner_id: uuid.UUID | None = None


class PlanPatch(BaseModel):
    """Changes to a draft plan; an active plan changes through its lifecycle actions."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=only_what_is_sent("preferred_practitioner_id")
    )

    protocol_id: uuid.UUID | None = None
    areas: list[Area] | None = Field(None, min_length=1, max_length=12)
    start_date: Day | None = None
    preferred_practitioner_id: uuid.UUID | None = None


class AcknowledgementIn(BaseModel):
    """The allergies and medications the staff member has read, as recorded."""

    model_config = ConfigDict(extra="forbid")

    allergies: list[Annotated[str, Field(max_length=200)]] = Field(max_length=50)
    medications: list[Annotated[str, Field(max_length=200)]] = Field(max_length=50)


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The day sessions may start again (today, in the clinic, when left out).
    resume_on: Day | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    session_number: int
    kind: str
    target_date: date
    earliest_date: date
    latest_date: date
    status: str
    appointment_id: uuid.UUID | None
    appointment_starts_at: datetime | None
    completed_on: date | None
    missed_count: int


class SafetyOut(BaseModel):
    """The patient's allergies and medications, and the staff acknowledgement of them."""

    flagged: bool
    allergies: list[str]
    medications: list[str]
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledged_allergies: list[str] | None
    acknowledged_medications: list[str] | None
    #: Whether the acknowledgement holds for the record as it is now.
    acknowledgement_current: bool
    #: Whether activation needs a (new) acknowledgement first.
    acknowledgement_required: bool


class PlanOut(BaseModel):
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
    paused_at: datetime | None
    ended_at: datetime | None
    cancel_reason: str | None
    safety: SafetyOut
    sessions: list[SessionOut]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        record = plan.patient.safety()
        current = plan.acknowledged_safety == record.fingerprint()
        return cls(
            id=plan.id,
            patient_id=plan.patient_id,
            protocol=ProtocolOut.model_validate(plan.protocol),
            areas=plan.areas,
            start_date=plan.start_date,
            preferred_practitioner_id=plan.preferred_practitioner_id,
            status=plan.status,
            time_zone=plan.time_zone,
            created_at=plan.created_at,
            activated_at=plan.activated_at,
            paused_at=plan.paused_at,
            ended_at=plan.ended_at,
            cancel_reason=plan.cancel_reason,
            safety=SafetyOut(
                flagged=record.flagged,
                allergies=plan.patient.allergies,
                medications=plan.patient.medications,
                acknowledged_by=plan.safety_acknowledged_by,
                acknowledged_at=plan.safety_acknowledged_at,
                acknowledged_allergies=plan.acknowledged_allergies,
                acknowledged_medications=plan.acknowledged_medications,
                acknowledgement_current=current,
                acknowledgement_required=record.flagged and not current,
            ),
            sessions=[SessionOut.model_validate(s) for s in plan.sessions],
        )


class WindowOut(BaseModel):
    session_number: int
    kind: str
    target_date: date
    earliest_date: date
    latest_date: date


class ProgressOut(BaseModel):
    plan_id: uuid.UUID
    status: str
    total: int
    completed: int
    booked: int
    open: int
    withdrawn: int
    skipped: int
    cancelled: int
    missed: int
    overdue: int
    next_window: WindowOut | None

    @classmethod
    def of(cls, plan: Plan, progress: Progress) -> ProgressOut:
        window = progress.next_window
        return cls(
            plan_id=plan.id,
            status=plan.status,
            total=progress.total,
            completed=progress.completed,
            booked=progress.booked,
            open=progress.open,
            withdrawn=progress.withdrawn,
            skipped=progress.skipped,
            cancelled=progress.cancelled,
            missed=progress.missed,
            overdue=progress.overdue,
            next_window=None
            if window is None
            else WindowOut(
                session_number=window.session_number,
                kind=window.kind,
                target_date=window.target_date,
                earliest_date=window.earliest_date,
                latest_date=window.latest_date,
            ),
        )


class WorklistItemOut(BaseModel):
    """An open session whose window closes soon (or already has) with nothing booked."""

    plan_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    protocol_key: str
    session_number: int
    total_sessions: int
    target_date: date
    earliest_date: date
    latest_date: date
    days_left: int
    overdue: bool
    missed_count: int
    preferred_practitioner_id: uuid.UUID | None

    @classmethod
    def of(cls, plan: Plan, session: PlanSession, *, today: date) -> WorklistItemOut:
        days_left = (session.latest_date - today).days
        return cls(
            plan_id=plan.id,
            patient_id=plan.patient_id,
            patient_name=plan.patient.full_name,
            protocol_key=plan.protocol.key,
            session_number=session.session_number,
            total_sessions=len(plan.sessions),
            target_date=session.target_date,
            earliest_date=session.earliest_date,
            latest_date=session.latest_date,
            days_left=days_left,
            overdue=days_left < 0,
            missed_count=session.missed_count,
            preferred_practitioner_id=plan.preferred_practitioner_id,
        )
