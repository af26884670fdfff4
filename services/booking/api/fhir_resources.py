"""booking's records as FHIR R4 resources (docs/fhir.md has the tables): Appointment,
Schedule (one per practitioner, one per room), Slot (a step of a schedule's grid),
Practitioner and Location (a location is a site; a room, a Location part of it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from booking.adapters.db import Location, Practitioner, Room
from booking.adapters.fhir_queries import AppointmentLine, ScheduleOwner
from booking.settings import BookingSettings
from booking.use_cases.free_busy import GridSlot
from shared.contracts.booking import AppointmentStatus
from shared.fhir import instant

Resource = dict[str, Any]

#: Each of booking's statuses as FHIR's AppointmentStatus (a confirmed appointment is
#: booked, its patient having accepted: see PATIENT_PARTICIPATION).
APPOINTMENT_STATUS: dict[AppointmentStatus, str] = {
    AppointmentStatus.HELD: "pending",
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CONFIRMED: "booked",
    AppointmentStatus.CHECKED_IN: "checked-in",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
}
#: The patient's ParticipationStatus in each: a hold is tentative, a booking waits for
#: the patient's confirmation (reply "C"), a cancelled appointment is declined.
PATIENT_PARTICIPATION: dict[AppointmentStatus, str] = {
    AppointmentStatus.HELD: "tentative",
    AppointmentStatus.BOOKED: "needs-action",
    AppointmentStatus.CONFIRMED: "accepted",
    AppointmentStatus.CHECKED_IN: "accepted",
    AppointmentStatus.COMPLETED: "accepted",
    AppointmentStatus.CANCELLED: "declined",
    AppointmentStatus.NO_SHOW: "accepted",
}
#: FHIR R4's AppointmentStatus codes: a search by any other is a 400.
FHIR_APPOINTMENT_STATUSES = frozenset(
    {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
     "entered-in-error", "checked-in", "waitlist"}
)  # fmt: skip


def statuses_for(code: str) -> list[str]:
    """booking's statuses that FHIR's ``code`` stands for (none for some: "arrived")."""
    return [status.value for status, fhir in APPOINTMENT_STATUS.items() if fhir == code]


def appointment(line: AppointmentLine, *, plans_base: str) -> Resource:
    """An appointment; its patient and plan are references to plans' FHIR base."""
    record, request = line.appointment, line.request
    zone = ZoneInfo(line.time_zone)
    status = AppointmentStatus(record.status)
    resource: Resource = {
        "resourceType": "Appointment",
        "id": str(record.id),
        "meta": {"versionId": str(record.version), "lastUpdated": instant(record.updated_at)},
        "status": APPOINTMENT_STATUS[status],
    }
    if status is AppointmentStatus.CANCELLED and record.reason:
        resource["cancelationReason"] = {"text": record.reason}
    if request is not None:
        resource["serviceType"] = [{"text": request.treatment}]
        resource["description"] = (
            f"{request.treatment}: session {request.session_number} of {request.total_sessions}"
        )
    minutes = (record.ends_at - record.starts_at) // timedelta(minutes=1)
    resource |= {
        "start": instant(record.starts_at, zone),
        "end": instant(record.ends_at, zone),
        "minutesDuration": minutes,
        "created": instant(record.created_at, zone),
    }
    if status is AppointmentStatus.HELD and record.hold_expires_at is not None:
        resource["comment"] = f"held until {instant(record.hold_expires_at, zone)}"
    if request is not None:
        resource["supportingInformation"] = [
            {"reference": f"{plans_base}/CarePlan/{request.plan_id}", "display": "the plan"}
        ]
    patient: Resource = {"reference": f"{plans_base}/Patient/{record.patient_id}"}
    if line.patient_name:
        patient["display"] = line.patient_name
    resource["participant"] = [
        {"actor": patient, "required": "required", "status": PATIENT_PARTICIPATION[status]},
        {
            "actor": {
                "reference": f"Practitioner/{record.practitioner_id}",
                "display": line.practitioner_name,
            },
            "required": "required",
            "status": "accepted",
        },
        {
            "actor": {"reference": f"Location/{record.room_id}", "display": line.room_name},
            "required": "required",
            "status": "accepted",
        },
    ]
    return resource


def practitioner(record: Practitioner) -> Resource:
    return {
        "resourceType": "Practitioner",
        "id": str(record.id),
        "active": True,
        "name": [{"text": record.full_name}],
    }


_TIME_ZONE = "http://hl7.org/fhir/StructureDefinition/timezone"
_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"


def location(record: Location) -> Resource:
    """A location: a site, with its phone and time zone."""
    resource: Resource = {
        "resourceType": "Location",
        "id": str(record.id),
        "extension": [{"url": _TIME_ZONE, "valueCode": record.time_zone}],
        "status": "active",
        "name": record.name,
        "mode": "instance",
        "physicalType": {"coding": [{"system": _PHYSICAL_TYPE, "code": "si", "display": "Site"}]},
    }
    if record.phone:
        resource["telecom"] = [{"system": "phone", "value": record.phone}]
    return resource


def room(record: Room) -> Resource:
    """A room: a Location part of its site's."""
    return {
        "resourceType": "Location",
        "id": str(record.id),
        "status": "active",
        "name": record.name,
        "mode": "instance",
        "physicalType": {"coding": [{"system": _PHYSICAL_TYPE, "code": "ro", "display": "Room"}]},
        "partOf": {"reference": f"Location/{record.location_id}"},
    }


# Schedules and their slots.

#: A schedule's id: ``practitioner-<uuid>`` or ``room-<uuid>``; a slot's, its schedule's
#: and its start in UTC, ``<schedule>-YYYYMMDDHHMM``.
_SLOT_TIME = "%Y%m%d%H%M"
_ACTOR = {"practitioner": "Practitioner", "room": "Location"}


def schedule_id(owner: ScheduleOwner) -> str:
    return f"{owner.kind}-{owner.id}"


def parse_schedule_id(text: str) -> tuple[str, uuid.UUID] | None:
    """The kind and id a schedule id names, or None if it is not one."""
    kind, _, id_ = text.partition("-")
    if kind not in _ACTOR:
        return None
    try:
        return kind, uuid.UUID(id_)
    except ValueError:
        return None


def parse_slot_id(text: str) -> tuple[str, datetime] | None:
    """The schedule id and start a slot id names, or None if it is not one."""
    schedule, _, stamp = text.rpartition("-")
    try:
        start = datetime.strptime(stamp, _SLOT_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None
    return (schedule, start) if parse_schedule_id(schedule) else None


def actor_reference(owner: ScheduleOwner) -> str:
    """What the schedule is of: ``Practitioner/<id>``, or ``Location/<id>`` for a room."""
    return f"{_ACTOR[owner.kind]}/{owner.id}"


def schedule(owner: ScheduleOwner, *, settings: BookingSettings, now: datetime) -> Resource:
    """A practitioner's or a room's schedule; its horizon is slot search's."""
    zone = ZoneInfo(owner.time_zone)
    step = settings.slot_granularity_minutes
    return {
        "resourceType": "Schedule",
        "id": schedule_id(owner),
        "active": True,
        "actor": [{"reference": actor_reference(owner), "display": owner.name}],
        "planningHorizon": {
            "start": instant(now + timedelta(hours=settings.minimum_notice_hours), zone),
            "end": instant(now + timedelta(days=settings.horizon_days), zone),
        },
        "comment": f"{owner.name}: free or busy, {step} minutes at a time",
    }


def slot(owner: ScheduleOwner, grid: GridSlot) -> Resource:
    zone = ZoneInfo(owner.time_zone)
    return {
        "resourceType": "Slot",
        "id": f"{schedule_id(owner)}-{grid.start.astimezone(UTC).strftime(_SLOT_TIME)}",
        "schedule": {"reference": f"Schedule/{schedule_id(owner)}"},
        "status": grid.status,
        "start": instant(grid.start, zone),
        "end": instant(grid.end, zone),
    }
