"""plans' records as FHIR R4 resources (docs/fhir.md has the tables): Patient, CarePlan
(a plan, its sessions as activities) and AllergyIntolerance (each allergy on record)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from plans.adapters.db import Patient, Plan, PlanSession
from plans.domain.lifecycle import PlanStatus, SessionStatus
from shared.fhir import instant

Resource = dict[str, Any]

#: Each plan status as FHIR's CarePlan status (RequestStatus).
PLAN_STATUS: dict[PlanStatus, str] = {
    PlanStatus.DRAFT: "draft",
    PlanStatus.ACTIVE: "active",
    PlanStatus.PAUSED: "on-hold",
    PlanStatus.COMPLETED: "completed",
    PlanStatus.CANCELLED: "revoked",
}
#: FHIR R4's RequestStatus codes: a search by any other is a 400.
FHIR_PLAN_STATUSES = frozenset(
    {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
)
#: Each session status as its activity's (CarePlanActivityStatus).
SESSION_STATUS: dict[SessionStatus, str] = {
    SessionStatus.OPEN: "not-started",
    SessionStatus.BOOKED: "scheduled",
    SessionStatus.COMPLETED: "completed",
    SessionStatus.WITHDRAWN: "on-hold",
    SessionStatus.CANCELLED: "cancelled",
    SessionStatus.SKIPPED: "cancelled",
}


def statuses_for(code: str) -> list[str]:
    """The plan statuses FHIR's ``code`` stands for (none for some: "unknown")."""
    return [status.value for status, fhir in PLAN_STATUS.items() if fhir == code]


def patient(record: Patient) -> Resource:
    """A patient on record (an erased one is Gone, never a resource)."""
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(record.id),
        "meta": {"lastUpdated": instant(record.updated_at)},
        "active": True,
        "name": [{"use": "usual", "text": record.full_name}],
        "telecom": [{"system": "phone", "value": record.phone, "use": "mobile"}],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": record.language}]},
                "preferred": True,
            }
        ],
    }
    return resource


def _display(record: Patient) -> Resource:
    reference: Resource = {"reference": f"Patient/{record.id}"}
    if record.erased_at is None:
        reference["display"] = record.full_name
    return reference


def care_plan(plan: Plan, *, booking_base: str) -> Resource:
    """A plan: its protocol, patient and period, each session an activity whose outcome is
    its appointment on booking's FHIR base."""
    protocol, total = plan.protocol, len(plan.sessions)
    resource: Resource = {
        "resourceType": "CarePlan",
        "id": str(plan.id),
        "status": PLAN_STATUS[PlanStatus(plan.status)],
        "intent": "plan",
        "category": [{"text": protocol.indication}],
        "title": protocol.name,
        "description": f"{protocol.name} on {', '.join(plan.areas)}: "
        f"{protocol.session_count} sessions every {protocol.interval_days} days",
        "subject": _display(plan.patient),
        "period": {"start": plan.start_date.isoformat()},
        "created": instant(plan.created_at),
    }
    if plan.ended_at is not None:
        resource["period"]["end"] = instant(plan.ended_at)
    elif plan.sessions:
        resource["period"]["end"] = plan.sessions[-1].latest_date.isoformat()
    if plan.cancel_reason:
        resource["note"] = [{"text": f"cancelled: {plan.cancel_reason}"}]
    if plan.sessions:
        resource["activity"] = [_activity(s, total, booking_base) for s in plan.sessions]
    return resource


def _activity(session: PlanSession, total: int, booking_base: str) -> Resource:
    kind = " (maintenance)" if session.kind == "maintenance" else ""
    activity: Resource = {
        "detail": {
            "kind": "Appointment",
            "status": SESSION_STATUS[SessionStatus(session.status)],
            "description": f"Session {session.session_number} of {total}{kind}",
            "scheduledPeriod": {
                "start": session.earliest_date.isoformat(),
                "end": session.latest_date.isoformat(),
            },
        }
    }
    if session.appointment_id is not None:
        reference = f"{booking_base}/Appointment/{session.appointment_id}"
        activity["outcomeReference"] = [{"reference": reference}]
    return activity


_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"


def allergy_id(patient_id: uuid.UUID, substance: str) -> str:
    """Stable while the allergy is on record: the patient's id and the substance's digest."""
    digest = hashlib.sha256(substance.strip().casefold().encode()).hexdigest()[:16]
    return f"{patient_id}-{digest}"


def patient_of_allergy(allergy: str) -> uuid.UUID | None:
    """The patient an AllergyIntolerance id names, or None if it is not one."""
    try:
        return uuid.UUID(allergy[:36]) if len(allergy) == 53 else None
    except ValueError:
        return None


def allergies(record: Patient) -> list[Resource]:
    """Each allergy recorded for the patient (one per substance, any case), with the
    record's allergy notes."""
    found: dict[str, Resource] = {}
    for substance in record.allergies:
        id_ = allergy_id(record.id, substance)
        resource: Resource = {
            "resourceType": "AllergyIntolerance",
            "id": id_,
            "clinicalStatus": {"coding": [{"system": _CLINICAL, "code": "active"}]},
            "code": {"text": substance.strip()},
            "patient": _display(record),
        }
        if record.allergy_notes:
            resource["note"] = [{"text": record.allergy_notes}]
        found.setdefault(id_, resource)
    return list(found.values())
