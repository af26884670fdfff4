"""The plans service in-process (relay and consumer running) and the patients, plans and
booking snapshots its tests are made of. Used by test_plans_*."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias

from plans.app import service
from plans.settings import PlansSettings
from shared.contracts.booking import AppointmentSnapshot
from tests.utils.harness import ServiceUnderTest, running

PlansApp: TypeAlias = ServiceUnderTest[PlansSettings]

#: 10:00 in Paris on a Monday, before the spring DST change of 2026-03-29.
NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


def running_plans(
    database_url: str, bootstrap_servers: str
) -> AbstractAsyncContextManager[PlansApp]:
    """The plans app on a fresh database, all its workers running, its clock at NOW."""
    return running(
        service, database_url, bootstrap_servers,
        start=NOW, workers=None, clinic_time_zone="Europe/Paris",
    )  # fmt: skip


PATIENT = {
    "full_name": "Léa Martin",
    "phone": "+33611223344",
    "time_zone": "Europe/Paris",
    "language": "fr",
    "sms_consent": True,
    "sms_consent_source": "signed intake form",
    "needle_sensitive": True,
}


async def new_patient(app: PlansApp, **fields: Any) -> dict[str, Any]:
    response = await app.client.post("/v1/patients", json={**PATIENT, **fields})
    assert response.status_code == 201, response.text
    patient: dict[str, Any] = response.json()
    return patient


async def protocol_id(app: PlansApp, key: str) -> str:
    response = await app.client.get("/v1/protocols", params={"key": key})
    found: str = response.json()[0]["id"]
    return found


async def active_plan(
    app: PlansApp, patient: dict[str, Any], *, key: str = "face-neck", start: date | None = None
) -> dict[str, Any]:
    """A plan activated for ``patient`` (starting tomorrow unless told)."""
    areas = {"face-neck": ["face"], "cellulite": ["thighs"], "medical": ["back"]}[key]
    response = await app.client.post(
        "/v1/plans",
        json={
            "patient_id": patient["id"],
            "protocol_id": await protocol_id(app, key),
            "areas": areas,
            "start_date": (start or (NOW.date() + timedelta(days=1))).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    response = await app.client.post(f"/v1/plans/{response.json()['id']}/activate")
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()
    return plan


def appointment(
    plan: dict[str, Any],
    number: int,
    starts_at: datetime,
    *,
    appointment_id: uuid.UUID | None = None,
    version: int = 1,
    status: str = "booked",
) -> dict[str, Any]:
    """The fields of a booking appointment snapshot for session ``number`` of ``plan``."""
    return AppointmentSnapshot(
        appointment_id=appointment_id or uuid.uuid4(), version=version, status=status,
        patient_id=uuid.UUID(plan["patient_id"]), plan_id=uuid.UUID(plan["id"]),
        booking_request_id=uuid.uuid4(), session_number=number,
        total_sessions=len(plan["sessions"]), treatment=plan["protocol"]["name"],
        numbing_cream_advised=True, practitioner_id=uuid.uuid4(), room_id=uuid.uuid4(),
        location_id=uuid.uuid4(), location_time_zone="Europe/Paris", starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=45),
    ).model_dump()  # fmt: skip
