"""The plans service in-process (its real lifespan: relay and consumer running) against the
real PostgreSQL and broker, with a manual clock and a staff client. Used by test_plans_*."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from plans.adapters.db import outbox
from plans.app import service
from plans.settings import PlansSettings
from shared.auth import Role
from shared.clock import ManualClock
from shared.contracts.booking import AppointmentSnapshot
from shared.events import Payload, new_event
from shared.migrate import upgrade
from shared.service import Runtime
from shared.settings import DEV_JWT_SECRET
from tests.clock import StaffAuth

T = TypeVar("T")

#: 10:00 in Paris on a Monday, before the spring DST change of 2026-03-29.
NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


@dataclass
class PlansApp:
    client: httpx.AsyncClient
    clock: ManualClock
    runtime: Runtime[PlansSettings]
    bootstrap_servers: str

    def as_role(self, role: Role, subject: str = "desk@clinic.example") -> dict[str, str]:
        token = StaffAuth(DEV_JWT_SECRET, self.clock, role, subject=subject).token()
        return {"Authorization": f"Bearer {token}"}

    async def events(self, type_: str, *, key: str | None = None) -> list[dict[str, Any]]:
        """Events staged in the outbox (committed with their state change), oldest first."""
        query = sa.select(outbox.c.data).where(outbox.c.type == type_).order_by(outbox.c.id)
        if key is not None:
            query = query.where(outbox.c.key == key)
        async with self.runtime.sessions() as session:
            return [dict(row) for row in (await session.scalars(query))]

    async def publish(self, payload: Payload, *, key: str) -> None:
        """Put an event on the broker as its producer would (booking's, here)."""
        event = new_event(payload, source="/tests/booking", key=key, now=self.clock.now())
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                event.topic, event.kafka_value(), key=event.key.encode(),
                headers=event.kafka_headers(),
            )  # fmt: skip
        finally:
            await producer.stop()


@contextlib.asynccontextmanager
async def running_plans(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[PlansApp]:
    """The plans app on a fresh database, its relay and consumer running, its clock manual."""
    migrations = service().spec.migrations
    await upgrade(migrations, fresh_database)
    settings = PlansSettings.model_validate(
        {
            "database_url": fresh_database,
            "kafka_bootstrap_servers": bootstrap_servers,
            # A group of its own: the broker is shared with other tests.
            "kafka_group_suffix": f"-test-{uuid.uuid4().hex[:8]}",
            "environment": "test",
            "jwt_secret": DEV_JWT_SECRET,
            "clinic_time_zone": "Europe/Paris",
        }
    )
    clock = ManualClock(NOW)
    app = service(settings, clock).app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://plans", auth=StaffAuth(DEV_JWT_SECRET, clock)
        ) as client:
            yield PlansApp(client, clock, app.state.runtime, bootstrap_servers)


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
