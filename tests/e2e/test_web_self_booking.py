"""The patient's self-booking page in a real Chromium, against the real services."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.async_api import Page, expect

from tests.e2e.conftest import eventually
from tests.e2e.sms import sent_sms

if TYPE_CHECKING:
    from tests.e2e.web_fixtures import Scenes

pytest_plugins = ["tests.e2e.web_fixtures"]


def session_card(page: Page, number: int) -> Any:
    """The card of an open session (not yet booked) in the list to book."""
    return page.locator("#requests > li").filter(
        has=page.get_by_role("heading", name=f"Session {number} of 10", exact=True)
    )


async def open_times(page: Page) -> Any:
    card = session_card(page, 1)
    await card.get_by_role("button", name="Choose a time").click()
    await expect(card.get_by_text("Pick a time:")).to_be_visible()
    return card


async def test_a_patient_books_session_one_from_the_sms_link_and_gets_the_confirmation_sms(
    scenes: Scenes,
) -> None:
    phone = scenes.new_phone()
    patient_id, _ = await scenes.patient_with_plan(name="Jeanne Moreau", phone=phone)
    link = await scenes.invitation_link(patient_id)
    assert link.startswith(scenes.stack.urls["booking"] + "/book/")
    assert "?" not in link

    context, page = await scenes.new_page(scenes.phone)
    try:
        response = await page.goto(link)
        assert response is not None
        assert response.status == 200
        await expect(page.get_by_role("heading", name="Book your sessions")).to_be_visible()
        first = session_card(page, 1)
        await expect(
            first.get_by_text(re.compile(r"^Book between \d+ \w+ and \d+ \w+$"))
        ).to_be_visible()
        await expect(page.get_by_text("(Europe/Paris)")).to_be_visible()
        await scenes.screenshot(page, "self-booking-phone-sessions")

        card = await open_times(page)
        slot = card.get_by_role("group").first.get_by_role("button").first
        label = await slot.get_attribute("aria-label")
        assert label
        assert re.search(r" at \d\d:\d\d with Dr ", label), label
        await scenes.screenshot(page, "self-booking-phone-times")
        await slot.click()  # tap 1: hold
        await expect(
            card.get_by_role("heading", name=re.compile("^Held for you until"))
        ).to_be_focused()
        await card.get_by_role("button", name="Confirm booking").click()  # tap 2: book

        title = page.get_by_role("heading", name="You are booked")
        await expect(title).to_be_focused()
        await expect(page.locator("#confirmation-facts")).to_contain_text("Session 1 of 10")
        await scenes.screenshot(page, "self-booking-phone-confirmation")

        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Add to calendar (.ics)").click()
        download = await download_info.value
        calendar = (await asyncio.to_thread(Path(await download.path()).read_bytes)).decode()
        assert download.suggested_filename == "session-1.ics"
        assert "BEGIN:VEVENT" in calendar
        assert "\r\nDTSTART:" in calendar
    finally:
        await context.close()

    booked = await scenes.appointments(patient_id)
    assert [a["status"] for a in booked] == ["booked"]
    start = booked[0]["starts_at"].replace("-", "").replace(":", "")[:15]
    assert f"DTSTART:{start}Z" in calendar

    sms = await sent_sms(scenes.stack, scenes.staff, patient_id=patient_id, kind="confirmation",
                         appointment_id=booked[0]["id"])  # fmt: skip
    assert sms.sent["to"] == phone
    assert "your appointment (session 1 of 10)" in sms.body
    assert label.split(" at ")[1][:5] in sms.body  # the time the patient picked


async def test_the_page_reopens_with_the_booked_session_and_the_clinic_rules(
    scenes: Scenes,
) -> None:
    """Reschedule and cancel are offered for a session more than the cut-off away."""
    patient_id, _ = await scenes.patient_with_plan(
        name="Paul Girard", phone=scenes.new_phone(), start_in_days=3
    )
    link = await scenes.invitation_link(patient_id)
    context, page = await scenes.new_page(scenes.desktop)
    try:
        await page.goto(link)
        card = await open_times(page)
        await card.get_by_role("group").first.get_by_role("button").first.click()
        await card.get_by_role("button", name="Confirm booking").click()
        await page.get_by_role("button", name="Back to my sessions").click()

        mine = page.locator("#appointments > li")
        await expect(mine).to_have_count(1)
        await expect(mine.get_by_role("heading", name="Session 1 of 10")).to_be_visible()
        await expect(session_card(page, 1)).to_have_count(0)
        await scenes.screenshot(page, "self-booking-desktop")

        await mine.get_by_role("button", name="Move to another time").click()
        # Any offered time will do: the current one is never offered.
        new_time = mine.get_by_role("group").first.get_by_role("button").first
        await new_time.click()
        await mine.get_by_role("button", name="Move it").click()
        await expect(page.get_by_role("heading", name="Your session has moved")).to_be_focused()
        await page.get_by_role("button", name="Back to my sessions").click()

        await mine.get_by_role("button", name="Cancel session").click()
        await mine.get_by_role("button", name="Yes, cancel it").click()
        await expect(page.get_by_role("status")).to_contain_text("Session 1 of 10 is cancelled")
        await expect(session_card(page, 1)).to_be_visible()  # open to book again
    finally:
        await context.close()
    assert [a["status"] for a in await scenes.appointments(patient_id)] == ["cancelled"]


async def test_two_patients_race_for_one_time_and_the_loser_is_offered_the_next_ones(
    scenes: Scenes,
) -> None:
    pages = []
    contexts = []
    try:
        for name in ("Alice Racine", "Bruno Racine"):
            patient_id, _ = await scenes.patient_with_plan(
                name=name, phone=scenes.new_phone(), start_in_days=5
            )
            context, page = await scenes.new_page(scenes.phone)
            contexts.append(context)
            await page.goto(await scenes.invitation_link(patient_id))
            await open_times(page)
            pages.append(page)
        slots = [p.locator("#requests .slots button").first for p in pages]
        labels = [await s.get_attribute("aria-label") for s in slots]
        assert labels[0] == labels[1], "both patients must be offered the same first time"

        await asyncio.gather(*(s.click() for s in slots))

        held = [p.get_by_role("heading", name=re.compile("^Held for you until")) for p in pages]
        taken = [p.get_by_role("heading", name="That time was just taken") for p in pages]
        await expect(pages[0].locator("#requests h4").first).to_be_visible()
        await eventually(
            lambda: _settled(held + taken), what="one hold and one 'just taken' message"
        )
        winner = 0 if await held[0].count() else 1
        loser = 1 - winner
        assert await held[winner].count() == 1
        assert await taken[winner].count() == 0
        assert await taken[loser].count() == 1
        assert await held[loser].count() == 0
        offered = pages[loser].locator("#requests .slots button")
        assert await offered.count() > 0
        await scenes.screenshot(pages[loser], "self-booking-phone-slot-taken")
        assert await offered.first.get_attribute("aria-label") != labels[0]
        await offered.first.click()  # the loser books one of the next free times
        await pages[loser].get_by_role("button", name="Confirm booking").click()
        await expect(pages[loser].get_by_role("heading", name="You are booked")).to_be_visible()
    finally:
        for context in contexts:
            await context.close()


async def _settled(locators: list[Any]) -> bool:
    counts: list[int] = [await locator.count() for locator in locators]
    return sum(counts) == 2


async def test_an_unknown_link_says_so_and_whom_to_call(
    scenes: Scenes,
) -> None:
    context, page = await scenes.new_page(scenes.phone)
    try:
        response = await page.goto(
            f"{scenes.stack.urls['booking']}/book/{secrets.token_urlsafe(32)}"
        )
        assert response is not None
        assert response.status == 401
        alert = page.get_by_role("alert")
        await expect(alert.get_by_role("heading")).to_have_text("This booking link does not work")
        await expect(alert.get_by_role("link", name="+33140000000")).to_have_attribute(
            "href", "tel:+33140000000"
        )
        await scenes.screenshot(page, "self-booking-phone-invalid-link")
    finally:
        await context.close()
