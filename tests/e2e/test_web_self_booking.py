"""The patient's self-booking page in a real Chromium, against the real services."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.e2e import axe
from tests.e2e.conftest import PARIS, eventually, paris_today
from tests.e2e.sms import sent_sms

if TYPE_CHECKING:
    from tests.e2e.web_fixtures import Scenes

pytest_plugins = ["tests.e2e.web_fixtures"]


def session_card(page: Page, number: int) -> Locator:
    """The card of an open session (not yet booked) in the list to book."""
    return page.locator("#requests > li").filter(
        has=page.get_by_role("heading", name=f"Session {number} of 10", exact=True)
    )


PART_OF_DAY = re.compile(r"^(Morning|Afternoon|Evening)$")


async def open_times(page: Page) -> Any:
    """Open session 1's day picker: the first day with free times shows its times."""
    card = session_card(page, 1)
    await card.get_by_role("button", name="Choose a time").click()
    await expect(days_of(card).first).to_be_visible()
    await expect(card.get_by_role("group", name=PART_OF_DAY).first).to_be_visible()
    return card


def days_of(scope: Page | Locator) -> Locator:
    """The day picker's day buttons."""
    return scope.get_by_role("group", name=re.compile(r"^Pick (a|the new) day$")).get_by_role(
        "button"
    )


def first_time(scope: Page | Locator) -> Locator:
    """The first free time of the chosen day."""
    return scope.get_by_role("group", name=PART_OF_DAY).first.get_by_role("button").first


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
        slot = first_time(card)
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
        # The other nine sessions are proposed at once, to book in one step.
        await expect(
            page.get_by_role("heading", name="Book the rest of your course at the same time")
        ).to_be_visible()
        await expect(page.get_by_role("button", name="Book these 9 sessions")).to_be_visible()
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
        await first_time(card).click()
        await card.get_by_role("button", name="Confirm booking").click()
        await page.get_by_role("button", name="Back to my sessions").click()

        mine = page.locator("#appointments > li")
        await expect(mine).to_have_count(1)
        await expect(mine.get_by_role("heading", name="Session 1 of 10")).to_be_visible()
        await expect(session_card(page, 1)).to_have_count(0)
        await scenes.screenshot(page, "self-booking-desktop")

        await mine.get_by_role("button", name="Move to another time").click()
        # Any offered time will do: the current one is never offered.
        new_time = first_time(mine)
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


async def window_and_free_days(scenes: Scenes, link: str) -> tuple[dict[str, Any], Counter[date]]:
    """Session 1's booking request and how many times are free each day of its window (every
    one counted), as the patient's page asks for them."""
    booking = scenes.stack.urls["booking"]
    headers = {"X-Patient-Token": link.rsplit("/", 1)[1]}
    async with httpx.AsyncClient(base_url=f"{booking}/v1/self-booking", headers=headers) as api:
        requests = (await api.get("/requests")).raise_for_status().json()
        [request] = [r for r in requests if r["session_number"] == 1]
        days = (await api.get(f"/requests/{request['id']}/days")).raise_for_status().json()
    return request, Counter({date.fromisoformat(d["day"]): d["free"] for d in days})


async def free_times_of(
    scenes: Scenes, link: str, request: dict[str, Any], day: date
) -> list[tuple[str, str]]:
    """Every free time of ``day`` for the session, as (HH:MM, practitioner), sorted."""
    booking = scenes.stack.urls["booking"]
    headers = {"X-Patient-Token": link.rsplit("/", 1)[1]}
    async with httpx.AsyncClient(base_url=f"{booking}/v1/self-booking", headers=headers) as api:
        slots = (
            (await api.get(f"/requests/{request['id']}/slots", params={"day": day.isoformat()}))
            .raise_for_status()
            .json()
        )
    found = (await scenes.staff.get(f"{booking}/v1/practitioners")).raise_for_status().json()
    names = {p["id"]: p["full_name"] for p in found}
    return sorted((s["patient_starts_at"][11:16], names[s["practitioner_id"]]) for s in slots)


def day_label(day: date) -> str:
    """The page's name of a day: "Wednesday 17 June"."""
    return f"{day:%A} {day.day} {day:%B}"


async def tab_to(page: Page, target: Locator, *, limit: int = 40) -> None:
    """Press Tab until ``target`` has the focus."""
    for _ in range(limit):
        if await target.evaluate("(node) => node === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    pytest.fail(f"{limit} presses of Tab never reached {target}")


async def test_the_day_picker_shows_the_window_and_books_a_time_by_keyboard_alone(
    scenes: Scenes,
) -> None:
    """Days of the window, each saying how many times are free (the day the clinic is closed:
    none); Tab, arrows and Enter choose a day; its times come by morning, afternoon and
    evening; booking one texts the patient."""
    # Session 1 from a Tuesday two months on (no one else books then): Tuesday to Thursday,
    # every location closed on the Wednesday.
    today = paris_today(scenes.stack)
    start = today + timedelta(days=60)
    start += timedelta(days=(1 - start.weekday()) % 7)
    closed = start + timedelta(days=1)
    booking = scenes.stack.urls["booking"]
    locations = (await scenes.staff.get(f"{booking}/v1/locations")).raise_for_status().json()
    for location in locations:  # the demo clinic's, and any other test's
        response = await scenes.staff.post(
            f"{booking}/v1/time-off",
            json={
                "resource_kind": "location",
                "resource_id": location["id"],
                "starts_at": datetime.combine(closed, time(0), PARIS).isoformat(),
                "ends_at": datetime.combine(closed + timedelta(days=1), time(0), PARIS).isoformat(),
                "reason": "closed all day",
            },
        )
        assert response.status_code == 201, response.text
    phone = scenes.new_phone()
    patient_id, _ = await scenes.patient_with_plan(
        name="Lucie Clavier", phone=phone, start_in_days=(start - today).days
    )
    link = await scenes.invitation_link(patient_id)
    request, free = await window_and_free_days(scenes, link)
    first = max(date.fromisoformat(request["earliest_date"]), today)
    last = date.fromisoformat(request["latest_date"])
    window = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    assert set(free) <= set(window)
    assert closed in window
    assert free[closed] == 0
    with_times = [day for day in window if free[day]]
    assert len(with_times) >= 2, f"the test needs two days with free times: {free}"
    assert with_times[0] < closed < with_times[1]

    def note(day: date) -> str:
        if not free[day]:
            return "No free time"
        return f"{free[day]} free time{'' if free[day] == 1 else 's'}"

    context, page = await scenes.new_page(scenes.phone)
    try:
        await page.goto(link)
        card = session_card(page, 1)
        choose = card.get_by_role("button", name="Choose a time")
        await tab_to(page, choose)
        await page.keyboard.press("Enter")
        await expect(choose).to_have_attribute("aria-expanded", "true")

        # Every day of the window, marked with its free times or as having none.
        days = days_of(card)
        await expect(days).to_have_count(len(window))
        for button, day in zip(await days.all(), window, strict=True):
            await expect(button).to_have_attribute("data-day", day.isoformat())
            text = f"{day:%a} {day.day} {day:%b} {note(day)}"
            await expect(button).to_have_accessible_name(text)
            if free[day]:
                await expect(button).to_be_enabled()
            else:
                await expect(button).to_be_disabled()

        def day_button(day: date) -> Locator:
            return card.locator(f'.days button[data-day="{day.isoformat()}"]')

        # The first day with free times is chosen, and is the picker's one tab stop.
        await expect(day_button(with_times[0])).to_have_attribute("aria-pressed", "true")
        await page.keyboard.press("Tab")
        await expect(day_button(with_times[0])).to_be_focused()
        await expect(day_button(with_times[0])).to_have_css("outline-style", "solid")
        # Arrows, Home and End move between the days with free times; only Enter chooses.
        await page.keyboard.press("End")
        await expect(day_button(with_times[-1])).to_be_focused()
        await page.keyboard.press("Home")
        await expect(day_button(with_times[0])).to_be_focused()
        await page.keyboard.press("ArrowLeft")
        await expect(day_button(with_times[0])).to_be_focused()
        await page.keyboard.press("ArrowRight")  # over the closed day
        chosen = with_times[1]
        await expect(day_button(chosen)).to_be_focused()
        await expect(day_button(chosen)).to_have_attribute("aria-pressed", "false")
        await page.keyboard.press("Enter")
        await expect(day_button(chosen)).to_have_attribute("aria-pressed", "true")
        await expect(day_button(with_times[0])).to_have_attribute("aria-pressed", "false")
        await expect(day_button(chosen)).to_have_attribute("tabindex", "0")
        await expect(day_button(chosen)).to_be_focused()
        await scenes.screenshot(page, "self-booking-phone-day-picker")
        count = f"{free[chosen]} free time{'' if free[chosen] == 1 else 's'}"
        await expect(card.get_by_role("status")).to_have_text(f"{day_label(chosen)}: {count}")

        # Its times, every one (as many as the day said), under Morning (before 12:00),
        # Afternoon, Evening (17:00 on), and in each, every practitioner's under their name.
        expected = await free_times_of(scenes, link, request, chosen)
        assert len(expected) == free[chosen]
        parts = card.get_by_role("group", name=PART_OF_DAY)
        shown: list[tuple[str, str]] = []
        bounds = {"Morning": ("00:00", "12:00"), "Afternoon": ("12:00", "17:00"),
                  "Evening": ("17:00", "24:00")}  # fmt: skip
        names = []
        for part in await parts.all():
            name = await part.get_attribute("aria-labelledby")
            assert name
            heading = await page.locator(f"#{name}").text_content()
            assert heading in bounds
            names.append(heading)
            # Each time: its name, its text, and the name it is listed under.
            buttons = await part.get_by_role("button").evaluate_all(
                """(buttons) => buttons.map((b) => [b.getAttribute("aria-label"), b.textContent,
                    b.closest(".who-times").querySelector(".who").textContent])"""
            )
            assert buttons
            for label, text, listed_under in buttons:
                found = re.fullmatch(rf"{day_label(chosen)} at (\d\d:\d\d) with ([^,]+), .+", label)
                assert found, label
                at, who = found.groups()
                assert bounds[heading][0] <= at < bounds[heading][1], label
                assert text == at, label
                assert listed_under.split(" (")[0] == who, label  # (where, if elsewhere)
                shown.append((at, who))
        assert names == sorted(names, key=list(bounds).index)
        assert sorted(shown) == expected

        # Booking one of them, by keyboard too, as on the list before.
        slot = first_time(card)
        label = await slot.get_attribute("aria-label")
        assert label
        picked = label.split(" at ")[1][:5]
        await tab_to(page, slot)
        await page.keyboard.press("Enter")
        held = card.get_by_role("heading", name=re.compile("^Held for you until"))
        await expect(held).to_be_focused()
        await tab_to(page, card.get_by_role("button", name="Confirm booking"))
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="You are booked")).to_be_focused()
        await expect(page.locator("#confirmation-facts")).to_contain_text(
            f"{day_label(chosen)} at {picked}"
        )
    finally:
        await context.close()

    [booked] = await scenes.appointments(patient_id)
    assert booked["status"] == "booked"
    sms = await sent_sms(scenes.stack, scenes.staff, patient_id=patient_id, kind="confirmation",
                         appointment_id=booked["id"])  # fmt: skip
    assert sms.sent["to"] == phone
    assert "your appointment (session 1 of 10)" in sms.body
    assert picked in sms.body


async def test_axe_finds_no_accessibility_violation_in_the_pages_main_states(
    scenes: Scenes,
) -> None:
    """axe-core audits the page listing the sessions, with a day and its times shown, with a
    time held, once booked, while moving the booked session, and for a link that does not
    work."""
    patient_id, _ = await scenes.patient_with_plan(
        name="Agathe Audit", phone=scenes.new_phone(), start_in_days=3
    )
    link = await scenes.invitation_link(patient_id)
    context, page = await scenes.new_page(scenes.phone)
    try:
        await page.goto(link)
        await expect(session_card(page, 1)).to_be_visible()
        await axe.assert_accessible(page, "the sessions listed")

        card = await open_times(page)
        await axe.assert_accessible(page, "a day chosen, its times shown")

        await first_time(card).click()
        await expect(
            card.get_by_role("heading", name=re.compile("^Held for you until"))
        ).to_be_visible()
        await axe.assert_accessible(page, "a time held")

        await card.get_by_role("button", name="Confirm booking").click()
        await expect(page.get_by_role("heading", name="You are booked")).to_be_focused()
        await expect(page.get_by_role("button", name=re.compile("^Book these"))).to_be_visible()
        await axe.assert_accessible(page, "the confirmation, the rest of the course proposed")

        await page.get_by_role("button", name="Back to my sessions").click()
        mine = page.locator("#appointments > li")
        await mine.get_by_role("button", name="Move to another time").click()
        await expect(first_time(mine)).to_be_visible()
        await axe.assert_accessible(page, "a booked session, moving it")

        response = await page.goto(
            f"{scenes.stack.urls['booking']}/book/{secrets.token_urlsafe(32)}"
        )
        assert response is not None
        assert response.status == 401
        await expect(page.get_by_role("alert")).to_be_visible()
        await axe.assert_accessible(page, "an invalid link")

        # The audit does see what is wrong: a button with no name.
        await page.evaluate(
            "() => document.querySelector('main').append(document.createElement('button'))"
        )
        with pytest.raises(
            pytest.fail.Exception, match=r"- button-name \(critical\): .*\n +at button: "
        ):
            await axe.assert_accessible(page, "a button with no name")
    finally:
        await context.close()


def test_the_audit_fails_saying_how_to_get_axe_core_when_it_is_missing_or_not_pinned(
    tmp_path: Path,
) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"missing.*make axe"):
        axe.read_axe(tmp_path / "axe-core.tgz")
    tampered = tmp_path / "tampered.tgz"
    tampered.write_bytes(b"not axe-core")
    with pytest.raises(pytest.fail.Exception, match=r"is not axe-core .* as pinned.*make axe"):
        axe.read_axe(tampered)
    assert "axe.run" in axe.read_axe(axe.AXE_TGZ)
