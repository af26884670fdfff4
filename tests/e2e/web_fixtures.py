"""What the browser tests share: a stack of their own, a real Chromium, and clinic helpers.

The pages' stack is separate from conftest's `stack`: the board test moves the clock
to opening hours and past a session's start, which must not move anyone else's. It shares
the run's broker under topics of its own (``KAFKA_TOPIC_PREFIX``), so no other stack's
events reach it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from devstack.demo import seed
from devstack.stack import Stack
from tests.e2e.conftest import invitation_link, isolated_stack, paris_today, staff_client
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
        start = paris_today(self.stack) + timedelta(days=start_in_days)
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

    @staticmethod
    def new_phone() -> str:
        """A valid French mobile number no other test texts."""
        return f"+33612{uuid.uuid4().int % 1_000_000:06d}"


@pytest.fixture
def scenes(
    web_stack: Stack, web_clinic: dict[str, Any], web_staff: httpx.AsyncClient, browser: Browser
) -> Scenes:
    return Scenes(web_stack, web_clinic, web_staff, browser)
