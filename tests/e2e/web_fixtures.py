"""What the browser tests share: a stack of their own, a real Chromium, and clinic helpers.

The pages' stack is separate from conftest's `stack`: the board must know where plans and
notify answer (``BOOKING_PLANS_PUBLIC_URL``...), which needs the ports before the services
start, and the board test moves the clock, which must not move anyone else's. It has its
own broker too, so no other stack's events reach it (topic names are shared).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright
from sqlalchemy.engine import make_url

from devstack.demo import seed
from devstack.infra import free_port, tansu
from devstack.stack import SERVICES, Stack, running_stack
from shared.db import drop_database
from tests.e2e.conftest import eventually

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
INVITATION = "clinic.booking.booking_invitation_issued.v1"


@pytest.fixture(scope="session")
def web_stack(workdir: Path, database_server: str, run_id: str) -> Iterator[Stack]:
    """The three services, sandbox and a broker of their own, knowing each other's URLs."""
    ports = {name: free_port() for name in (*SERVICES, "sandbox")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    databases = {
        f"{name.upper()}_DATABASE_URL": make_url(database_server)
        .set(database=f"mc_web_{run_id}_{name}")
        .render_as_string(hide_password=False)
        for name in SERVICES
    }
    env = {
        **databases,
        "BOOKING_PLANS_PUBLIC_URL": urls["plans"],
        "BOOKING_NOTIFY_PUBLIC_URL": urls["notify"],
        "BOOKING_SELF_BOOKING_URL": urls["booking"] + "/book",
        "BOOKING_BOARD_REFRESH_SECONDS": "1",
    }
    with (
        tansu(workdir / "web-broker.log") as servers,
        running_stack(
            workdir / "web-stack",
            ports=ports,
            bootstrap_servers=servers,
            database_url=database_server,
            extra_env=env,
        ) as stack,
    ):
        yield stack
    for url in databases.values():
        asyncio.run(drop_database(url))


@pytest.fixture(scope="session")
def web_clinic(web_stack: Stack, workdir: Path) -> dict[str, Any]:
    """The demo clinic, seeded into the pages' stack."""
    return seed(web_stack, workdir / "web-seeded.json")


@pytest.fixture
async def web_staff(web_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with an admin token, for setting scenes through the APIs."""
    headers = {"Authorization": f"Bearer {web_stack.staff_token()}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, driven by Playwright (never a downloaded browser)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


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
    async def screenshot(page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    async def patient_with_plan(
        self, *, name: str, phone: str, start_in_days: int = 1
    ) -> tuple[str, str]:
        """A registered patient with an activated 10-session cellulite plan: (patient, plan)."""
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
        start = datetime.now(PARIS).date() + timedelta(days=start_in_days)
        response = await self.staff.post(
            f"{plans}/v1/plans",
            json={
                "patient_id": patient_id,
                "protocol_id": self.clinic["protocol_ids"]["cellulite"],
                "areas": ["thighs"],
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
        """The self-booking link booking issued the patient (the URL their SMS carries)."""
        consumer = AIOKafkaConsumer(
            "booking.events",
            bootstrap_servers=self.stack.env["KAFKA_BOOTSTRAP_SERVERS"],
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        try:

            async def probe() -> str | None:
                batches = await consumer.getmany(timeout_ms=500)
                for record in (r for records in batches.values() for r in records):
                    headers = {k: v.decode() for k, v in record.headers}
                    payload = json.loads(record.value or b"{}")
                    if headers.get("ce_type") == INVITATION and payload["patient_id"] == patient_id:
                        link: str = payload["link_url"]
                        return link
                return None

            return await eventually(probe, within=30, what=f"the booking link of {patient_id}")
        finally:
            await consumer.stop()

    async def sandbox_texts(self, to: str) -> list[str]:
        """The bodies of the SMS the Twilio sandbox accepted for ``to``."""
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{self.stack.urls['sandbox']}/_sandbox/messages", params={"to": to}
            )
        response.raise_for_status()
        return [m["resource"]["body"] for m in response.json()["messages"]]

    async def appointments(self, patient_id: str) -> list[dict[str, Any]]:
        response = await self.staff.get(
            f"{self.stack.urls['booking']}/v1/appointments", params={"patient_id": patient_id}
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    @staticmethod
    def new_phone() -> str:
        """A valid French mobile number no other test texts."""
        return f"+33612{uuid.uuid4().int % 1_000_000:06d}"


@pytest.fixture
def scenes(
    web_stack: Stack, web_clinic: dict[str, Any], web_staff: httpx.AsyncClient, browser: Browser
) -> Scenes:
    return Scenes(web_stack, web_clinic, web_staff, browser)
