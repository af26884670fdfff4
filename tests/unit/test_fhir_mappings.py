"""The FHIR mappings are total and speak FHIR: every status of booking and plans has its
FHIR code, each code one R4B allows (read from fhir.resources' models), and ids fit FHIR's."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from fhir.resources.R4B.appointment import Appointment, AppointmentParticipant
from fhir.resources.R4B.careplan import CarePlan, CarePlanActivityDetail
from fhir.resources.R4B.slot import Slot

from booking.adapters.fhir_queries import ScheduleOwner
from booking.api import fhir as booking_fhir
from booking.api import fhir_resources as booking
from booking.use_cases.free_busy import GridSlot, SlotStatus
from plans.api import fhir_resources as plans
from plans.domain.lifecycle import PlanStatus, SessionStatus
from shared.contracts.booking import AppointmentStatus
from shared.fhir import ISSUE_CODES, operation_outcome
from tests.utils.fhir import valid

#: FHIR R4's IssueType codes (fhir.resources does not list them: a value set of its own).
ISSUE_TYPES = {
    "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
    "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
    "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
    "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
    "exception", "timeout", "incomplete", "throttled", "informational",
}  # fmt: skip
#: FHIR's id: 1 to 64 of these.
FHIR_ID = re.compile(r"[A-Za-z0-9\-\.]{1,64}")


def codes(model: Any, field: str) -> set[str]:
    """The codes an R4B model's element takes (its value set, as fhir.resources has it)."""
    values: list[str] = model.model_fields[field].json_schema_extra["enum_values"]
    return set(values)


def test_every_appointment_status_has_its_fhir_status() -> None:
    assert set(booking.APPOINTMENT_STATUS) == set(AppointmentStatus)
    assert set(booking.APPOINTMENT_STATUS.values()) <= codes(Appointment, "status")
    assert codes(Appointment, "status") == booking.FHIR_APPOINTMENT_STATUSES
    assert set(booking.PATIENT_PARTICIPATION) == set(AppointmentStatus)
    assert set(booking.PATIENT_PARTICIPATION.values()) <= codes(AppointmentParticipant, "status")
    assert booking.APPOINTMENT_STATUS[AppointmentStatus.HELD] == "pending"
    assert booking.APPOINTMENT_STATUS[AppointmentStatus.COMPLETED] == "fulfilled"
    assert booking.APPOINTMENT_STATUS[AppointmentStatus.NO_SHOW] == "noshow"
    assert booking.APPOINTMENT_STATUS[AppointmentStatus.CHECKED_IN] == "checked-in"


def test_a_fhir_appointment_status_searches_the_statuses_it_stands_for() -> None:
    for status, code in booking.APPOINTMENT_STATUS.items():
        assert status.value in booking.statuses_for(code)
    assert booking.statuses_for("booked") == ["booked", "confirmed"]
    assert booking.statuses_for("arrived") == []


def test_every_plan_and_session_status_has_its_fhir_status() -> None:
    assert set(plans.PLAN_STATUS) == set(PlanStatus)
    assert set(plans.PLAN_STATUS.values()) <= codes(CarePlan, "status")
    assert codes(CarePlan, "status") == plans.FHIR_PLAN_STATUSES
    assert set(plans.SESSION_STATUS) == set(SessionStatus)
    assert set(plans.SESSION_STATUS.values()) <= codes(CarePlanActivityDetail, "status")
    for status, code in plans.PLAN_STATUS.items():
        assert plans.statuses_for(code) == [status.value]


def test_slot_statuses_are_fhir_s() -> None:
    assert set(get_args(SlotStatus)) <= codes(Slot, "status")
    assert set(booking_fhir.SLOT_STATUSES) == codes(Slot, "status")


@pytest.mark.parametrize("kind", ["practitioner", "room"])
def test_schedule_and_slot_ids_are_fhir_ids_that_read_back(kind: Any) -> None:
    owner = ScheduleOwner(kind, uuid.uuid4(), "Dr Who", uuid.uuid4(), "Europe/Paris")
    schedule = booking.schedule_id(owner)
    assert FHIR_ID.fullmatch(schedule)
    assert booking.parse_schedule_id(schedule) == (kind, owner.id)
    start = datetime(2026, 12, 31, 23, 45, tzinfo=UTC)
    grid = GridSlot(start, start, "free")
    slot = booking.slot(owner, grid)["id"]
    assert FHIR_ID.fullmatch(slot)
    assert booking.parse_slot_id(slot) == (schedule, start)
    for wrong in ("room", f"desk-{owner.id}", f"{kind}-{owner.id}-2026", f"{kind}-x-202601011000"):
        assert booking.parse_slot_id(wrong) is None
        assert booking.parse_schedule_id(wrong) is None


def test_allergy_ids_are_fhir_ids_naming_their_patient() -> None:
    patient = uuid.uuid4()
    allergy = plans.allergy_id(patient, "Lidocaine")
    assert FHIR_ID.fullmatch(allergy)
    assert plans.allergy_id(patient, " lidocaine ") == allergy
    assert plans.allergy_id(patient, "latex") != allergy
    assert plans.patient_of_allergy(allergy) == patient
    assert plans.patient_of_allergy("latex") is None
    assert plans.patient_of_allergy("x" * 53) is None


@pytest.mark.parametrize("status", [*sorted(ISSUE_CODES), 500])
def test_every_error_is_a_valid_operation_outcome(status: int) -> None:
    outcome = valid(operation_outcome(status, "what went wrong"))
    [issue] = outcome["issue"]
    assert issue["code"] in ISSUE_TYPES
