"""The booking service in-process against a fresh PostgreSQL and the real broker.

Tests drive it over HTTP (httpx's ASGI transport) and feed it plans' events through its
own use cases or the broker; time is a ManualClock the test moves.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import sqlalchemy as sa

from booking.adapters.db import outbox
from booking.adapters.handlers import handlers
from booking.app import service
from booking.settings import BookingSettings
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.requests import open_booking_requests
from shared.auth import Role
from shared.clock import ManualClock
from shared.contracts.plans import CycleScheduled, SessionWindow
from shared.events import Payload, new_event
from shared.migrate import upgrade
from shared.service import Runtime
from shared.settings import DEV_JWT_SECRET
from tests.clock import StaffAuth

MIGRATIONS = service().spec.migrations
#: A Monday in winter, 08:00 in Paris.
START = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)


@dataclass
class Booking:
    client: httpx.AsyncClient
    runtime: Runtime[BookingSettings]
    clock: ManualClock
    settings: BookingSettings
    location_id: str = ""
    practitioner_ids: tuple[str, ...] = ()
    room_ids: tuple[str, ...] = ()

    def token(self, role: Role = Role.ADMIN, practitioner_id: str | None = None) -> str:
        return StaffAuth(
            DEV_JWT_SECRET, self.clock, role, subject="t@clinic.example",
            practitioner_id=practitioner_id,
        ).token()  # fmt: skip

    async def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.post(path, json=body, **kw)

    async def seed_clinic(self, practitioners: int = 2, rooms: int = 2) -> None:
        location = await self.post("/v1/locations", {"name": "Paris", "time_zone": "Europe/Paris"})
        assert location.status_code == 201, location.text
        self.location_id = location.json()["id"]
        every = ["cellulite", "weight_loss", "hair_regrowth", "medical"]
        practitioner_ids, room_ids = [], []
        for i in range(practitioners):
            body = {"location_id": self.location_id, "full_name": f"Dr {i}", "indications": every}
            practitioner_ids.append((await self.post("/v1/practitioners", body)).json()["id"])
        for i in range(rooms):
            body = {"location_id": self.location_id, "name": f"Room {i}"}
            room_ids.append((await self.post("/v1/rooms", body)).json()["id"])
        self.practitioner_ids, self.room_ids = tuple(practitioner_ids), tuple(room_ids)

    async def cycle(
        self,
        *,
        sessions: int = 1,
        first: date | None = None,
        every_days: int = 7,
        slack_days: int = 2,
        patient_id: uuid.UUID | None = None,
        minutes: int = 30,
        preferred_practitioner_id: str | None = None,
        min_gap_days: int | None = None,
    ) -> CycleScheduled:
        """Plans' cycle-scheduled event applied through booking's own use case
        (``min_gap_days`` None: an event from before plans sent the protocol's gap)."""
        first = first or (self.clock.now() + timedelta(days=2)).date()
        cycle = CycleScheduled(
            plan_id=uuid.uuid4(), patient_id=patient_id or uuid.uuid4(),
            protocol_id=uuid.uuid4(), protocol_version=1, indication="cellulite",
            treatment="Cellulite mesotherapy", areas=["thighs"], session_minutes=minutes,
            numbing_cream_advised=True,
            preferred_practitioner_id=(
                uuid.UUID(preferred_practitioner_id) if preferred_practitioner_id else None
            ),
            time_zone="Europe/Paris", min_gap_days=min_gap_days,
            sessions=[
                SessionWindow(
                    session_number=k + 1, total_sessions=sessions,
                    target_date=first + timedelta(days=k * every_days),
                    earliest_date=first + timedelta(days=k * every_days - slack_days),
                    latest_date=first + timedelta(days=k * every_days + slack_days),
                )
                for k in range(sessions)
            ],
        )  # fmt: skip
        async with self.runtime.sessions.begin() as session:
            uow = unit_of_work(session, self.settings, self.clock.now())
            await open_booking_requests(uow, cycle=cycle)
        return cycle

    async def requests(self, cycle: CycleScheduled | str) -> list[dict[str, Any]]:
        """The booking requests of a cycle (or of a plan, by id), in session order."""
        plan_id = cycle if isinstance(cycle, str) else str(cycle.plan_id)
        response = await self.client.get("/v1/booking-requests", params={"plan_id": plan_id})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    async def events(self, type_suffix: str = "") -> list[dict[str, Any]]:
        """Booking's outbox, oldest first: type and payload of each staged event."""
        async with self.runtime.sessions() as session:
            rows = await session.execute(
                sa.select(outbox.c.type, outbox.c.data).order_by(outbox.c.id)
            )
        return [
            {"type": t, **d} for t, d in rows if t.endswith(type_suffix)
        ]  # fmt: skip

    async def apply(self, payload: Payload) -> None:
        """An event of plans or notify, applied through booking's own handler for it (in
        one transaction, as the consumer does)."""
        handler = handlers(self.runtime)[type(payload)]
        key = str(getattr(payload, "patient_id", ""))
        event = new_event(payload, source="/tests", key=key, now=self.clock.now())
        async with self.runtime.sessions.begin() as session:
            await handler(session, event)

    async def patient_link(self, request_id: str) -> dict[str, str]:
        """Staff text the patient a link; the headers the patient's page sends with it."""
        response = await self.post(f"/v1/booking-requests/{request_id}/invitations")
        assert response.status_code == 201, response.text
        invitation = (await self.events("booking_invitation_issued.v1"))[-1]
        return {"X-Patient-Token": token_of(invitation["link_url"])}


def token_of(link_url: str) -> str:
    """The token a self-booking link carries: ``/book/<token>``, or ``/book?token=``."""
    link = urlparse(link_url)
    query = parse_qs(link.query)
    if "token" in query:
        return query["token"][0]
    return unquote(link.path.rsplit("/", 1)[1])


def settings_for(database_url: str, bootstrap_servers: str, **extra: Any) -> BookingSettings:
    return BookingSettings.model_validate(
        {
            "database_url": database_url,
            "kafka_bootstrap_servers": bootstrap_servers,
            "kafka_group_suffix": f"-{uuid.uuid4().hex[:8]}",
            "db_pool_size": 20,
            **extra,
        }
    )


@asynccontextmanager
async def running_booking(
    database_url: str, bootstrap_servers: str, *, workers: tuple[str, ...] = (), **extra: Any
) -> AsyncIterator[Booking]:
    """Migrate a fresh database and run the booking app in-process with ``workers``."""
    await upgrade(MIGRATIONS, database_url)
    settings = settings_for(database_url, bootstrap_servers, **extra)
    clock = ManualClock(START)
    app = service(settings, clock=clock).app(workers=workers)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://booking", auth=StaffAuth(DEV_JWT_SECRET, clock)
        ) as client:
            yield Booking(client, app.state.runtime, clock, settings)
