"""Events of the plans service (topic ``plans.events``): patients and treatment cycles."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict

from shared.events import TOPICS, Payload, event_type

TOPIC = TOPICS["plans"]


class PatientContact(Payload):
    """What booking and notify keep of a patient: who, how to reach, how to treat."""

    patient_id: uuid.UUID
    full_name: str
    phone: str  # E.164
    time_zone: str  # IANA
    language: str
    sms_consent: bool
    needle_sensitive: bool

    def subject(self) -> str:
        return str(self.patient_id)


@event_type("clinic.plans.patient_registered.v1", topic=TOPIC)
class PatientRegistered(PatientContact):
    pass


@event_type("clinic.plans.patient_updated.v1", topic=TOPIC)
class PatientUpdated(PatientContact):
    pass


@event_type("clinic.plans.patient_erased.v1", topic=TOPIC)
class PatientErased(Payload):
    """The patient asked to be forgotten: drop every copy of their contact data."""

    patient_id: uuid.UUID

    def subject(self) -> str:
        return str(self.patient_id)


class SessionWindow(BaseModel):
    """Session k of N of a cycle and the dates it should happen between."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    session_number: int
    total_sessions: int
    target_date: date
    earliest_date: date
    latest_date: date
    #: "cycle", or "maintenance" for the protocol's sessions after the cycle.
    kind: str = "cycle"


@event_type("clinic.plans.cycle_scheduled.v1", topic=TOPIC)
class CycleScheduled(Payload):
    """A plan was activated: its sessions and their windows, in the clinic's time zone."""

    plan_id: uuid.UUID
    patient_id: uuid.UUID
    protocol_id: uuid.UUID
    protocol_version: int
    indication: str
    treatment: str
    areas: list[str]
    session_minutes: int
    numbing_cream_advised: bool
    preferred_practitioner_id: uuid.UUID | None
    time_zone: str
    sessions: list[SessionWindow]
    #: The protocol's least number of days between two sessions of the cycle; absent in
    #: events older than the field (booking then derives it from the windows).
    min_gap_days: int | None = None

    def subject(self) -> str:
        return str(self.plan_id)


@event_type("clinic.plans.windows_changed.v1", topic=TOPIC)
class WindowsChanged(Payload):
    """Some sessions' windows moved: re-anchored after a session done early or late,
    reopened after a no-show or a cancellation, or re-planned when a paused plan resumes.

    ``sessions`` holds only the sessions whose window changed, each with its new window;
    booking moves (or reopens) the matching booking requests.
    """

    plan_id: uuid.UUID
    patient_id: uuid.UUID
    reason: str  # "reanchored" | "reopened" | "resumed"
    sessions: list[SessionWindow]
    #: As in CycleScheduled (the plan's protocol version's minimum gap).
    min_gap_days: int | None = None

    def subject(self) -> str:
        return str(self.plan_id)


@event_type("clinic.plans.windows_withdrawn.v1", topic=TOPIC)
class WindowsWithdrawn(Payload):
    """The plan was paused: these sessions are no longer to be booked until it resumes."""

    plan_id: uuid.UUID
    patient_id: uuid.UUID
    session_numbers: list[int]

    def subject(self) -> str:
        return str(self.plan_id)


@event_type("clinic.plans.plan_cancelled.v1", topic=TOPIC)
class PlanCancelled(Payload):
    """Booking cancels the plan's open requests and future appointments."""

    plan_id: uuid.UUID
    patient_id: uuid.UUID
    reason: str | None = None

    def subject(self) -> str:
        return str(self.plan_id)


@event_type("clinic.plans.plan_completed.v1", topic=TOPIC)
class PlanCompleted(Payload):
    """The last session of the cycle was completed."""

    plan_id: uuid.UUID
    patient_id: uuid.UUID

    def subject(self) -> str:
        return str(self.plan_id)
