"""The staff Reports page in a real Chromium: reached from the board's link, its charts
show the figures of a day the test made at a location of its own (a session completed,
a no-show, two confirmations delivered and one answered C), its CSV downloads, and axe
finds nothing wrong with it."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e import axe
from tests.e2e.conftest import PARIS, eventually
from tests.e2e.flows import own_location
from tests.e2e.sms import sent_sms

if TYPE_CHECKING:
    from devstack.stack import Stack
    from tests.e2e.web_fixtures import Scenes

pytest_plugins = ["tests.e2e.web_fixtures"]

PASSWORD = "reports are read by the front desk"
CLINIC_NUMBER = "+15005550006"


@pytest.fixture(scope="module")
def reports_account(web_stack: Stack) -> str:
    """A front-desk (staff role) account, made with the CLI as an operator would."""
    email = "reports.desk@clinic.example"
    env = {k: v for k, v in web_stack.env.items() if k != "STAFF_PASSWORD"}
    created = subprocess.run(
        [sys.executable, "-m", "booking.web.accounts", "create", "--email", email,
         "--role", "staff", "--name", "Reports desk"],
        input=PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return email


@pytest.fixture(scope="module")
def reports_location(web_stack: Stack) -> dict[str, str]:
    """A location of this test's own, so its figures are the test's alone."""
    return own_location(
        web_stack, name="Reports Clinic", practitioner="Dr Rita Report", room="Room R"
    )


def into_the_morning(stack: Stack) -> None:
    """Move the stack's clock to 08:30 in Paris unless it is between 08:00 and 15:00 there:
    both sessions (in half an hour and in an hour and a half) then fall on one day, inside
    the location's hours, and their confirmations go out at once (no quiet hours)."""
    local = stack.clock.now().astimezone(PARIS)
    if time(8) <= local.time() < time(15):
        return
    day = local.date() + timedelta(days=1 if local.time() >= time(15) else 0)
    stack.clock.set(datetime.combine(day, time(8, 30), PARIS))


async def booked(
    scenes: Scenes, place: dict[str, str], name: str, phone: str, in_minutes: int
) -> tuple[str, dict[str, Any]]:
    """A patient whose session 1 staff book ``in_minutes`` from now: (patient, appointment)."""
    patient_id, _ = await scenes.patient_with_plan(name=name, phone=phone, start_in_days=0)
    request = await scenes.open_request(patient_id)
    now = scenes.stack.clock.now().replace(second=0, microsecond=0)
    appointment = await scenes.book(
        request, place["practitioner_id"], place["room_id"], now + timedelta(minutes=in_minutes)
    )
    return patient_id, appointment


async def test_the_reports_page_charts_the_day_the_clinic_had(
    scenes: Scenes, reports_account: str, reports_location: dict[str, str]
) -> None:
    stack, staff = scenes.stack, scenes.staff
    booking = stack.urls["booking"]
    into_the_morning(stack)
    came_phone, missed_phone = scenes.new_phone(), scenes.new_phone()
    came, came_at = await booked(scenes, reports_location, "Clara Came", came_phone, 30)
    missed, missed_at = await booked(scenes, reports_location, "Marc Missed", missed_phone, 90)
    for patient_id, appointment in ((came, came_at), (missed, missed_at)):
        await sent_sms(stack, staff, patient_id=patient_id, kind="confirmation",
                       appointment_id=appointment["id"])  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as client:
        replied = await client.post(
            f"{stack.urls['sandbox']}/_sandbox/inbound",
            json={"from": came_phone, "to": CLINIC_NUMBER, "body": "C"},
        )
        replied.raise_for_status()

    async def confirmed() -> bool:
        found = await staff.get(f"{booking}/v1/appointments/{came_at['id']}")
        return bool(found.json()["status"] == "confirmed")

    await eventually(confirmed, what="Clara's C to confirm her appointment")
    steps = (
        (came_at, "check-in"), (came_at, "complete"), (missed_at, "no-show"),
    )  # fmt: skip
    for appointment, verb in steps:
        if verb != "check-in":
            stack.clock.set(datetime.fromisoformat(appointment["starts_at"]) + timedelta(minutes=1))
        done = await staff.post(f"{booking}/v1/appointments/{appointment['id']}/{verb}")
        assert done.status_code == 200, done.text
    day = datetime.fromisoformat(missed_at["starts_at"]).astimezone(PARIS).date().isoformat()
    period = {"location_id": reports_location["id"], "from": day, "to": day}

    async def sms_counted() -> dict[str, Any] | None:
        found = (await staff.get(f"{booking}/v1/reports/sms", params=period)).json()
        replies = found["confirmation_replies"]
        return found if (replies["delivered"], replies["answered"]) == (2, 1) else None

    # notify's delivery receipts and Clara's reply reach booking's read model by Kafka.
    await eventually(sms_counted, within=30, what="booking to count both confirmations")

    context, page = await scenes.new_page(scenes.desktop)
    try:
        await page.goto(f"{booking}/board")
        await page.get_by_label("Email").fill(reports_account)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Day board")).to_be_visible()
        await page.get_by_role("link", name="Reports").click()
        await expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
        assert page.url == f"{booking}/board/reports"

        await page.get_by_label("Location").select_option(label="Reports Clinic")
        await page.get_by_label("From").fill(day)
        await page.get_by_label("To").fill(day)
        await page.get_by_role("button", name="Show", exact=True).click()
        charts = {
            "adherence": ["Cellulite", "1 on time, 0 late, 1 missed"],
            "attendance": ["50% (1 of 2 that came due)", "0% (0 of 2 booked)"],
            "utilisation": ["Dr Rita Report", "Room R", "8.3% (60 of 720 min)"],
            "sms": ["2 sent, 2 delivered, 0 failed", "50% answered C (1 of 2 delivered)"],
            "offers": ["n/a (0 of 0 offered)"],
        }
        # Five charts computed at once, on a machine the other tests keep busy: patience.
        for name, figures in charts.items():
            chart = page.locator(f"#chart-{name} svg[role=img]")
            await expect(chart).to_be_visible(timeout=20_000)
            for figure in figures:
                await expect(chart).to_contain_text(figure, timeout=20_000)
        status = page.get_by_role("status")
        await expect(status).to_contain_text("Reports for Reports Clinic", timeout=20_000)
        await scenes.screenshot(page, "board-desktop-reports")
        await axe.assert_accessible(page, "the reports of a day, charted")

        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Download CSV: SMS").click()
        download = await download_info.value
        assert download.suggested_filename == f"mesocycle-sms-reports-clinic-{day}-to-{day}.csv"
        text = (await asyncio.to_thread(Path(await download.path()).read_bytes)).decode()
        rows = {row["kind"]: row for row in csv.DictReader(io.StringIO(text))}
        confirmation = rows["confirmation"]
        assert (confirmation["delivered"], confirmation["answered"]) == ("2", "1")
        assert confirmation["reply_rate"] == "0.5"
    finally:
        await context.close()
