"""The booking service in-process and the clinic, cycles and patient links its tests are
made of. Used by test_booking_* (and the e2e tests, for :func:`token_of`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx

from booking.app import service
from booking.settings import BookingSettings
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.requests import open_booking_requests
from shared.contracts.plans import CycleScheduled, SessionWindow
from tests.utils.harness import ServiceUnderTest, running

#: A Monday in winter, 08:00 in Paris.
START = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
#: Booking's tests make many requests at once: more connections than production's 10.
SETTINGS: dict[str, Any] = {"db_pool_size": 20}


@dataclass
class Booking(ServiceUnderTest[BookingSettings]):
    """Running booking, and the clinic :meth:`seed_clinic` made in it."""

    location_id: str = ""
    practitioner_ids: tuple[str, ...] = ()
    room_ids: tuple[str, ...] = ()

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


@asynccontextmanager
async def running_booking(
    database_url: str,
    bootstrap_servers: str,
    *,
    workers: Collection[str] = (),
    **overrides: Any,
) -> AsyncIterator[Booking]:
    """Migrate a fresh database and run the booking app in-process with ``workers``."""
    async with running(
        service, database_url, bootstrap_servers,
        start=START, workers=workers, **(SETTINGS | overrides),
    ) as booking:  # fmt: skip
        yield Booking(**vars(booking))
