"""What the browser tests share: a stack of their own, a real Chromium, and clinic helpers.

The pages' stack is separate from conftest's `stack`: the board test moves the clock
to opening hours and past a session's start, which must not move anyone else's. It shares
the run's broker under topics of its own (``KAFKA_TOPIC_PREFIX``), so no other stack's
events reach it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from devstack.demo import seed
from devstack.stack import Stack
from tests.e2e.conftest import (
    eventually,
    invitation_link,
    isolated_stack,
    paris_today,
    staff_client,
)
from tests.e2e.sms import sandbox_messages

PARIS = ZoneInfo("Europe/Paris")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 360, "height": 780}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
#: An area each default protocol treats (the plan names one).
AREAS = {
    "cellulite": "thighs",
    "weight-loss": "thighs",
    "hair-regrowth": "scalp",
    "face-neck": "face",
    "body-sculpting": "abdomen",
    "medical": "back",
}
#: Offers are made only outside the patients' quiet hours (21:00-08:00 where they are).
DAYTIME = (time(8), time(19))


@pytest.fixture(scope="session")
def web_stack(
    workdir: Path, bootstrap_servers: str, database_server: str, run_id: str
) -> Iterator[Stack]:
    """The three services and a sandbox of their own (the board calls plans and notify)."""
    # The board refreshes every second, so it shows what tests change at once.
    with isolated_stack(
        workdir, bootstrap_servers, database_server, f"web_{run_id}",
        env={"BOOKING_BOARD_REFRESH_SECONDS": "1"},
    ) as stack:  # fmt: skip
        yield stack


@pytest.fixture(scope="session")
def web_clinic(web_stack: Stack, workdir: Path) -> dict[str, Any]:
    """The demo clinic, seeded into the pages' stack."""
    return seed(web_stack, workdir / "web-seeded.json")


@pytest.fixture
async def web_staff(web_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with admin tokens, for setting scenes through the APIs."""
    async with staff_client(web_stack) as client:
        yield client


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, driven by Playwright (never a downloaded browser)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make system` (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@dataclass(frozen=True)
class FreedTime:
    """Time a cancellation freed (10:00 on ``day``, with a practitioner and a room of the
    test's own), and the patients who may be offered it: name -> (patient id, phone)."""

    day: date
    starts_at: datetime
    practitioner_id: str
    room_id: str
    doctor: str
    patients: dict[str, tuple[str, str]]


class Scenes:
    """Setting scenes in the pages' stack and looking at them in the browser."""

    phone = PHONE
    desktop = DESKTOP

    def __init__(
        self, stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient, browser: Browser
    ) -> None:
        self.stack = stack
        self.clinic = clinic
        self.staff = staff
        self.browser = browser

    async def new_page(self, viewport: ViewportSize) -> tuple[BrowserContext, Page]:
        context = await self.browser.new_context(
            viewport=viewport, locale="en-GB", accept_downloads=True
        )
        page = await context.new_page()
        page.set_default_timeout(15_000)
        return context, page

    @staticmethod
    async def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
        """The page (or, ``full_page`` false, what the screen shows of it) as ``name``.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    async def patient_with_plan(
        self, *, name: str, phone: str, start_in_days: int = 1, protocol: str = "cellulite"
    ) -> tuple[str, str]:
        """A registered patient with an activated plan of a default protocol (by default
        the 10 sessions for cellulite) starting ``start_in_days`` from today: (patient, plan)."""
        plans = self.stack.urls["plans"]
        response = await self.staff.post(
            f"{plans}/v1/patients",
            json={
                "full_name": name,
                "phone": phone,
                "time_zone": "Europe/Paris",
                "language": "en",
                "sms_consent": True,
                "needle_sensitive": True,
            },
        )
        if response.status_code != 201:
            pytest.fail(f"patient not registered: {response.text}")
        patient_id: str = response.json()["id"]
        start = paris_today(self.stack) + timedelta(days=start_in_days)
        response = await self.staff.post(
            f"{plans}/v1/plans",
            json={
                "patient_id": patient_id,
                "protocol_id": self.clinic["protocol_ids"][protocol],
                "areas": [AREAS[protocol]],
                "start_date": start.isoformat(),
            },
        )
        if response.status_code != 201:
            pytest.fail(f"plan not created: {response.text}")
        plan_id: str = response.json()["id"]
        response = await self.staff.post(f"{plans}/v1/plans/{plan_id}/activate")
        if response.status_code != 200:
            pytest.fail(f"plan not activated: {response.text}")
        return patient_id, plan_id

    async def invitation_link(self, patient_id: str) -> str:
        return await invitation_link(self.stack, patient_id)

    async def sandbox_texts(self, to: str) -> list[str]:
        """The bodies of the SMS the Twilio sandbox accepted for ``to``."""
        return [m["body"] for m in await sandbox_messages(self.stack, to)]

    async def appointments(self, patient_id: str) -> list[dict[str, Any]]:
        response = await self.staff.get(
            f"{self.stack.urls['booking']}/v1/appointments", params={"patient_id": patient_id}
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    async def open_request(self, patient_id: str, number: int = 1) -> dict[str, Any]:
        """Session ``number``'s booking request, once booking has opened it."""
        booking = self.stack.urls["booking"]

        async def found() -> dict[str, Any] | None:
            response = await self.staff.get(
                f"{booking}/v1/booking-requests", params={"patient_id": patient_id}
            )
            response.raise_for_status()
            return next((r for r in response.json() if r["session_number"] == number), None)

        return await eventually(found, what=f"session {number} of patient {patient_id}")

    async def book(
        self, request: dict[str, Any], practitioner_id: str, room_id: str, starts_at: datetime
    ) -> dict[str, Any]:
        """Staff book a session (as the desk would, on the phone)."""
        response = await self.staff.post(
            f"{self.stack.urls['booking']}/v1/appointments",
            json={"booking_request_id": request["id"], "practitioner_id": practitioner_id,
                  "room_id": room_id, "starts_at": starts_at.isoformat()},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        booked: dict[str, Any] = response.json()
        return booked

    async def own_practitioner(self, name: str, indication: str) -> tuple[str, str]:
        """A practitioner treating ``indication`` alone, and a room, at the demo clinic:
        time freed with them is offered to that indication's patients only, so a test
        whose patients alone have it sees its own offers only. (practitioner, room)"""
        booking = self.stack.urls["booking"]
        location = self.clinic["location_id"]
        doctor = await self.staff.post(
            f"{booking}/v1/practitioners",
            json={"location_id": location, "full_name": name, "indications": [indication]},
        )
        assert doctor.status_code == 201, doctor.text
        room = await self.staff.post(
            f"{booking}/v1/rooms", json={"location_id": location, "name": f"Room of {name}"}
        )
        assert room.status_code == 201, room.text
        return doctor.json()["id"], room.json()["id"]

    async def offers_on(self, day: date) -> list[dict[str, Any]]:
        """The offers of time freed on ``day`` at the demo clinic, as staff see them."""
        response = await self.staff.get(
            f"{self.stack.urls['booking']}/v1/offers",
            params={"day": day.isoformat(), "location_id": self.clinic["location_id"]},
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    async def offer_to(self, patient_id: str, day: date, status: str = "live") -> dict[str, Any]:
        """The offer made to the patient of time freed on ``day``, once it is ``status``."""

        async def found() -> dict[str, Any] | None:
            return next(
                (o for o in await self.offers_on(day)
                 if o["patient_id"] == patient_id and o["status"] == status),
                None,
            )  # fmt: skip

        return await eventually(found, what=f"a {status} offer to patient {patient_id} on {day}")

    def into_daytime(self) -> None:
        """Move the stack's clock to 08:30 in Paris (the next morning if need be) unless it
        is between 08:00 and 19:00 there: offers are never made in quiet hours, and a claim
        window of 30 minutes or two must end before they start."""
        local = self.stack.clock.now().astimezone(PARIS)
        if DAYTIME[0] <= local.time() < DAYTIME[1]:
            return
        day = local.date() + timedelta(days=1 if local.time() >= DAYTIME[1] else 0)
        self.stack.clock.set(datetime.combine(day, time(8, 30), PARIS))

    async def freed_time(
        self, *, protocol: str, indication: str, doctor: str, start_in_days: int,
        candidates: dict[str, int],
    ) -> FreedTime:  # fmt: skip
        """Time freed for an earlier-slot offer: patients of ``protocol`` (whose indication
        no other test's patients have), one booked by staff on the first day of their
        window at 10:00 with a practitioner of the test's own, then cancelled. Each
        candidate's course starts the given days from that day (the sooner their window
        ends, the sooner they are offered the time). Offers are made in the daytime: the
        clock is moved to 08:30 first when need be."""
        self.into_daytime()
        day = paris_today(self.stack) + timedelta(days=start_in_days)
        practitioner_id, room_id = await self.own_practitioner(doctor, indication)
        names = ["Cancelling " + doctor.split()[-1], *candidates]
        starts = [start_in_days, *(start_in_days + d for d in candidates.values())]
        phones = [self.new_phone() for _ in names]
        created = await asyncio.gather(*(
            self.patient_with_plan(name=n, phone=ph, start_in_days=d, protocol=protocol)
            for n, ph, d in zip(names, phones, starts, strict=True)
        ))  # fmt: skip
        patients = {
            n: (patient, phone)
            for n, (patient, _), phone in zip(names, created, phones, strict=True)
        }
        cancelling, _ = patients[names[0]]
        freed_at = datetime.combine(day, time(10), PARIS)
        request = await self.open_request(cancelling)
        appointment = await self.book(request, practitioner_id, room_id, freed_at)
        # Every candidate's session is open before the time is freed.
        await asyncio.gather(*(self.open_request(patients[n][0]) for n in candidates))
        cancelled = await self.staff.post(
            f"{self.stack.urls['booking']}/v1/appointments/{appointment['id']}/cancel", json={}
        )
        assert cancelled.status_code == 200, cancelled.text
        return FreedTime(
            day=day, starts_at=freed_at, practitioner_id=practitioner_id, room_id=room_id,
            doctor=doctor, patients={n: patients[n] for n in candidates},
        )  # fmt: skip

    @staticmethod
    def new_phone() -> str:
        """A valid French mobile number no other test texts."""
        return f"+33612{uuid.uuid4().int % 1_000_000:06d}"


@pytest.fixture
def scenes(
    web_stack: Stack, web_clinic: dict[str, Any], web_staff: httpx.AsyncClient, browser: Browser
) -> Scenes:
    return Scenes(web_stack, web_clinic, web_staff, browser)
