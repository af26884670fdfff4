"""The staff day board in a real Chromium, and the staff accounts that sign in to it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from shared.auth import Role
from tests.e2e.conftest import eventually
from tests.e2e.flows import own_location
from tests.e2e.sms import link_in, sent_sms

if TYPE_CHECKING:
    from devstack.stack import Stack
    from tests.e2e.web_fixtures import Scenes

pytest_plugins = ["tests.e2e.web_fixtures"]

PASSWORD = "correct horse battery staple"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def desk_account(web_stack: Stack) -> str:
    """The first admin, created with the CLI as an operator would (password on stdin)."""
    email = "Front.Desk@clinic.example"
    env = {k: v for k, v in web_stack.env.items() if k != "STAFF_PASSWORD"}
    created = subprocess.run(
        [sys.executable, "-m", "booking.web.accounts", "create", "--email", email,
         "--role", "admin", "--name", "Front desk"],
        input=PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert PASSWORD not in created.stdout + created.stderr
    return email.lower()


@pytest.fixture(scope="module")
def board_location(web_stack: Stack) -> dict[str, str]:
    """A location of the board tests' own, with a practitioner and a room."""
    return own_location(
        web_stack, name="Saint-Germain Clinic", practitioner="Dr Ana Board", room="Room B"
    )


def into_opening_hours(stack: Stack) -> None:
    """Move the stack's clock to 08:30 in Paris if it is outside 08:00-18:00 there: the
    session booked next must start and end today, within the clinic's hours."""
    local = stack.clock.now().astimezone(PARIS)
    if time(8) <= local.time() < time(18):
        return
    day = local.date() + timedelta(days=1 if local.time() >= time(18) else 0)
    stack.clock.set(datetime.combine(day, time(8, 30), PARIS))


async def sign_in(page: Page, url: str, email: str) -> None:
    await page.goto(f"{url}/board")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Day board")).to_be_visible()


async def book_within_the_hour(
    scenes: Scenes, patient_id: str, place: dict[str, str]
) -> dict[str, Any]:
    booking = scenes.stack.urls["booking"]

    async def first_request() -> list[dict[str, Any]] | None:
        found = await scenes.staff.get(
            f"{booking}/v1/booking-requests", params={"patient_id": patient_id, "status": "open"}
        )
        return [r for r in found.json() if r["session_number"] == 1] or None

    [request] = await eventually(first_request, what="session 1's booking request")
    now = scenes.stack.clock.now()
    starts_at = now.replace(second=0, microsecond=0) + timedelta(minutes=30)
    response = await scenes.staff.post(
        f"{booking}/v1/appointments",
        json={"booking_request_id": request["id"], "practitioner_id": place["practitioner_id"],
              "room_id": place["room_id"], "starts_at": starts_at.isoformat()},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    appointment: dict[str, Any] = response.json()
    return appointment


async def test_staff_sign_in_check_the_patient_in_and_complete_the_session_from_the_board(
    scenes: Scenes, desk_account: str, board_location: dict[str, str]
) -> None:
    stack, staff = scenes.stack, scenes.staff
    into_opening_hours(stack)
    phone = scenes.new_phone()
    # Her confirmation SMS will not get through: the board must show it needs a call.
    async with httpx.AsyncClient() as client:
        flagged = await client.post(
            f"{stack.urls['sandbox']}/_sandbox/numbers",
            json={"number": phone, "undeliverable": True},
        )
        flagged.raise_for_status()
    patient_id, plan_id = await scenes.patient_with_plan(
        name="Odile Checkin", phone=phone, start_in_days=0
    )
    await scenes.patient_with_plan(name="Victor Worklist", phone=scenes.new_phone())
    appointment = await book_within_the_hour(scenes, patient_id, board_location)

    async def undelivered() -> list[Any] | None:
        found = await staff.get(f"{stack.urls['notify']}/v1/messages/attention")
        return [m for m in found.json() if m["patient_id"] == patient_id] or None

    await sent_sms(stack, staff, patient_id=patient_id, kind="confirmation",
                   appointment_id=appointment["id"])  # fmt: skip
    await eventually(undelivered, what="the undelivered confirmation in notify")

    context, page = await scenes.new_page(scenes.desktop)
    try:
        await sign_in(page, stack.urls["booking"], desk_account)
        assert "token" not in page.url
        assert "access_token" in (await page.evaluate("sessionStorage.getItem('mesocycle.staff')"))
        await page.get_by_label("Location").select_option(label="Saint-Germain Clinic")
        column = page.get_by_role("region", name="Dr Ana Board")
        card = column.get_by_role("article", name=re.compile("^Odile Checkin"))
        await expect(card).to_contain_text("Session 1 of 10")
        await expect(card.get_by_text("Numbing cream")).to_be_visible()
        await expect(card.get_by_text("Confirmation SMS: undelivered")).to_be_visible()
        await expect(page.locator("#worklist")).to_contain_text("Victor Worklist")
        await expect(page.locator("#attention")).to_contain_text("Odile Checkin")

        # The patient confirms by SMS meanwhile: the board shows it without a reload.
        confirmed = await staff.post(
            f"{stack.urls['booking']}/v1/appointments/{appointment['id']}/confirm"
        )
        assert confirmed.status_code == 200, confirmed.text
        await expect(card.get_by_text("Confirmed", exact=True)).to_be_visible()
        await scenes.screenshot(page, "board-desktop")

        await card.get_by_role("button", name="Check in: Odile Checkin").click()
        await expect(card.get_by_text("Checked in", exact=True)).to_be_visible()
        stack.clock.set(datetime.fromisoformat(appointment["starts_at"]) + timedelta(minutes=1))
        await card.get_by_role("button", name="Complete: Odile Checkin").click()
        await expect(card.get_by_text("Completed", exact=True)).to_be_visible()
        await expect(page.get_by_role("status")).to_contain_text("Odile Checkin: complete done")
    finally:
        await context.close()

    async def progressed() -> dict[str, Any] | None:
        found = await staff.get(f"{stack.urls['plans']}/v1/plans/{plan_id}/progress")
        progress: dict[str, Any] = found.json()
        return progress if progress["completed"] == 1 else None

    progress = await eventually(progressed, what="the plan's progress to count session 1")
    assert progress["open"] == 9


async def test_the_board_lists_the_offers_in_flight_of_its_day_live_then_how_they_ended(
    scenes: Scenes, desk_account: str
) -> None:
    """Time freed at the demo clinic is offered to a patient: the board's day of it lists
    the offer, live with its claim time; when the patient passes on it, how it ended."""
    freed = await scenes.freed_time(
        protocol="medical", indication="medical", doctor="Dr Omar Board",
        start_in_days=8, candidates={"Gisele Offered": 0},
    )  # fmt: skip
    patient_id, _ = freed.patients["Gisele Offered"]
    offer = await scenes.offer_to(patient_id, freed.day)
    until = datetime.fromisoformat(offer["claim_by"]).astimezone(PARIS)
    context, page = await scenes.new_page(scenes.desktop)
    try:
        await sign_in(page, scenes.stack.urls["booking"], desk_account)
        await page.get_by_label("Location").select_option(label="Mesocycle Clinic Paris")
        await page.get_by_label("Day", exact=True).fill(freed.day.isoformat())
        panel = page.get_by_role("region", name="Offers in flight")
        line = panel.get_by_role("listitem").filter(has_text="Gisele Offered")
        await expect(line).to_contain_text("session 1, 10:00-10:20 with Dr Omar Board")
        await expect(line).to_contain_text(
            re.compile(rf"Live until {until:%H:%M} \(\d+ min left\)")
        )
        await scenes.screenshot(page, "board-desktop-offers")

        # She passes on it from her SMS link, on her phone: the page thanks her and shows
        # what else is free; the board shows how the offer ended, by itself.
        sms = await sent_sms(scenes.stack, scenes.staff, patient_id=patient_id, kind="offer")
        phone, mine = await scenes.new_page(scenes.phone)
        try:
            await mine.goto(link_in(sms.body))
            await mine.get_by_role("button", name="No thanks").click()
            offer_panel = mine.locator("#offer")
            passed = offer_panel.get_by_role("heading", name="You passed on this time")
            await expect(passed).to_be_focused()
            await expect(offer_panel).to_contain_text(
                "Thank you for letting us know: we are offering "
            )
            await expect(offer_panel.get_by_role("button", name="Take this time")).to_have_count(0)
            await expect(
                offer_panel.get_by_role("heading", name="Other free times for session 1 of 5")
            ).to_be_visible()
        finally:
            await phone.close()
        await expect(line).to_contain_text(
            re.compile(r"Declined at \d\d:\d\d: the patient passed on it")
        )
        await expect(line).not_to_contain_text("Live until")
    finally:
        await context.close()
    [ended] = [o for o in await scenes.offers_on(freed.day) if o["id"] == offer["id"]]
    assert ended["status"] == "declined"


async def test_the_board_at_phone_width_and_signing_out(scenes: Scenes, desk_account: str) -> None:
    context, page = await scenes.new_page(scenes.phone)
    try:
        await sign_in(page, scenes.stack.urls["booking"], desk_account)
        await expect(page.locator("#worklist li").first).to_be_visible()
        await scenes.screenshot(page, "board-phone")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('mesocycle.staff')") is None
        await scenes.screenshot(page, "board-phone-sign-in")
    finally:
        await context.close()


async def test_sign_in_refuses_wrong_passwords_alike_and_only_admins_add_accounts(
    scenes: Scenes, desk_account: str
) -> None:
    booking = scenes.stack.urls["booking"]
    async with httpx.AsyncClient(timeout=10) as client:
        for email in (desk_account, "nobody@clinic.example"):
            refused = await client.post(
                f"{booking}/v1/auth/login", json={"email": email, "password": "wrong password"}
            )
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["detail"] == "the email or the password is wrong"
        signed_in = await client.post(
            f"{booking}/v1/auth/login", json={"email": desk_account.upper(), "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["role"] == "admin"
        desk = {"Authorization": f"Bearer {scenes.stack.staff_token(Role.STAFF)}"}
        account = {"email": "new@clinic.example", "display_name": "New", "role": "staff",
                   "password": "a long enough password"}  # fmt: skip
        forbidden = await client.post(f"{booking}/v1/staff-accounts", json=account, headers=desk)
        assert forbidden.status_code == 403
        admin = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        practitioner = {**account, "email": "p@clinic.example", "role": "practitioner"}
        unnamed = await client.post(
            f"{booking}/v1/staff-accounts", json=practitioner, headers=admin
        )
        assert unnamed.status_code == 422
        created = await client.post(f"{booking}/v1/staff-accounts", json=account, headers=admin)
        assert created.status_code == 201, created.text
        assert "password" not in created.text
        again = await client.post(f"{booking}/v1/staff-accounts", json=account, headers=admin)
        assert again.status_code == 409


async def test_sign_in_is_rate_limited_per_email(scenes: Scenes) -> None:
    booking = scenes.stack.urls["booking"]
    attempt = {"email": f"guess-{os.getpid()}@clinic.example", "password": "guess"}
    answers: list[int] = []
    async with httpx.AsyncClient(timeout=10) as client:
        # Counted per minute of the service's clock, which stands still: 10 refusals, then 429.
        while 429 not in answers and len(answers) < 25:
            response = await client.post(f"{booking}/v1/auth/login", json=attempt)
            answers.append(response.status_code)
    assert answers == [401] * 10 + [429]
    assert "Retry-After" in response.headers
    scenes.stack.clock.advance(timedelta(minutes=1))  # the next minute counts afresh
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{booking}/v1/auth/login", json=attempt)
    assert response.status_code == 401
