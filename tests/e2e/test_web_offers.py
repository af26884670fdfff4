"""Earlier-slot offers on the patient's page, in a real Chromium against the real services.

A cancellation frees time; booking offers it to one patient at a time and notify texts
them a link. The link opens the page on the offer: taking it books the freed time; an
offer let expire goes to the next patient, and its link then says so; a link opened after
someone else took the time says so too. Both show what else is free for the session.

Each test's patients have an indication of their own (weight loss, face and neck, body
sculpting) and the freed time is with a practitioner of the test's own treating only
that: nobody else's cancellation reaches them, and theirs reaches nobody else.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from playwright.async_api import Locator, Page, expect

from tests.e2e import axe
from tests.e2e.conftest import PARIS
from tests.e2e.sms import link_in, sent_sms

if TYPE_CHECKING:
    from tests.e2e.web_fixtures import Scenes

pytest_plugins = ["tests.e2e.web_fixtures"]

PART_OF_DAY = re.compile(r"^(Morning|Afternoon|Evening)$")
ACTIVE = ("held", "booked", "confirmed")


def day_label(day: date) -> str:
    """The page's name of a day: "Wednesday 17 June"."""
    return f"{day:%A} {day.day} {day:%B}"


def hhmm(instant: str | datetime) -> str:
    """An instant's time of day in Paris, as the page and the SMS show it."""
    when = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    return f"{when.astimezone(PARIS):%H:%M}"


def offer_panel(page: Page) -> Locator:
    return page.locator("#offer")


async def other_free_times(panel: Locator, session: str) -> Locator:
    """The day picker under an offer that ended, for its session: its first time."""
    await expect(
        panel.get_by_role("heading", name=f"Other free times for {session}")
    ).to_be_visible()
    days = panel.get_by_role("group", name="Pick a day").get_by_role("button")
    await expect(days.first).to_be_visible()
    await expect(panel.locator('.days button[aria-pressed="true"]')).to_have_count(1)
    first = panel.get_by_role("group", name=PART_OF_DAY).first.get_by_role("button").first
    await expect(first).to_be_visible()
    return first


async def test_a_patient_takes_the_freed_time_from_the_offer_sms_and_is_booked_into_it(
    scenes: Scenes,
) -> None:
    freed = await scenes.freed_time(
        protocol="weight-loss", indication="weight_loss", doctor="Dr Lina Offer",
        start_in_days=10, candidates={"Bianca Offer": 0},
    )  # fmt: skip
    patient_id, phone = freed.patients["Bianca Offer"]
    sms = await sent_sms(scenes.stack, scenes.staff, patient_id=patient_id, kind="offer")
    assert sms.sent["to"] == phone
    assert "a place freed up on" in sms.body
    assert "at 10:00 for session 1 of 10" in sms.body
    assert "Reply NO to pass it on" in sms.body
    offer = await scenes.offer_to(patient_id, freed.day)

    context, page = await scenes.new_page(scenes.phone)
    try:
        await page.goto(link_in(sms.body))
        panel = offer_panel(page)
        await expect(panel.get_by_role("heading", name="A place freed up")).to_be_visible()
        await expect(panel).to_contain_text(f"{day_label(freed.day)} at 10:00 with Dr Lina Offer")
        await expect(panel).to_contain_text("Session 1 of 10.")
        await expect(panel).to_contain_text(f"Take it by {hhmm(offer['claim_by'])}.")
        no_thanks = panel.get_by_role("button", name="No thanks")
        await expect(no_thanks).to_be_enabled()
        # Nothing else of the page competes with it: the offer comes first.
        first_heading = page.locator("main h2:visible").first
        await expect(first_heading).to_have_text("A place freed up")
        await axe.assert_accessible(page, "an earlier-slot offer")
        await scenes.screenshot(page, "self-booking-phone-offer")

        await panel.get_by_role("button", name="Take this time").click()
        await expect(page.get_by_role("heading", name="You are booked")).to_be_focused()
        facts = page.locator("#confirmation-facts")
        await expect(facts).to_contain_text("Session 1 of 10")
        await expect(facts).to_contain_text(f"{day_label(freed.day)} at 10:00")
        await expect(facts).to_contain_text("Dr Lina Offer")
        await expect(panel).to_be_hidden()

        # Back on her sessions, the offer says she took it, and when she is booked.
        await page.get_by_role("button", name="Back to my sessions").click()
        await expect(panel.get_by_role("heading", name="You took this time")).to_be_visible()
        await expect(panel).to_contain_text(
            f"{day_label(freed.day)} at 10:00 with Dr Lina Offer, Room of Dr Lina Offer"
        )
        await expect(panel.get_by_role("button")).to_have_count(0)
    finally:
        await context.close()

    [booked] = [a for a in await scenes.appointments(patient_id) if a["status"] in ACTIVE]
    assert booked["status"] == "booked"
    assert datetime.fromisoformat(booked["starts_at"]) == freed.starts_at
    assert (booked["practitioner_id"], booked["room_id"]) == (freed.practitioner_id, freed.room_id)
    claimed = await scenes.offer_to(patient_id, freed.day, status="claimed")
    assert claimed["id"] == offer["id"]
    confirmation = await sent_sms(scenes.stack, scenes.staff, patient_id=patient_id,
                                  kind="confirmation", appointment_id=booked["id"])  # fmt: skip
    assert confirmation.sent["to"] == phone
    assert "your appointment (session 1 of 10) is booked for" in confirmation.body
    assert "at 10:00" in confirmation.body


async def test_an_offer_let_expire_goes_to_the_next_patient_and_its_link_then_says_so(
    scenes: Scenes,
) -> None:
    # Chloe's window ends a day before Denis's: she is offered the time first.
    freed = await scenes.freed_time(
        protocol="face-neck", indication="face_neck_rejuvenation", doctor="Dr Marc Expire",
        start_in_days=12, candidates={"Chloe First": -1, "Denis Second": 0},
    )  # fmt: skip
    first, _ = freed.patients["Chloe First"]
    second, second_phone = freed.patients["Denis Second"]
    sms = await sent_sms(scenes.stack, scenes.staff, patient_id=first, kind="offer")
    offer = await scenes.offer_to(first, freed.day)
    assert [o["patient_id"] for o in await scenes.offers_on(freed.day)] == [first]

    context, page = await scenes.new_page(scenes.phone)
    try:
        await page.goto(link_in(sms.body))
        panel = offer_panel(page)
        take = panel.get_by_role("button", name="Take this time")
        await expect(take).to_be_visible()

        # She leaves it: past its claim time the sweeper ends it, and Denis is offered it.
        scenes.stack.clock.set(datetime.fromisoformat(offer["claim_by"]) + timedelta(minutes=1))
        expired = await scenes.offer_to(first, freed.day, status="expired")
        assert expired["reason"] == "nobody claimed it in time"
        nxt = await sent_sms(scenes.stack, scenes.staff, patient_id=second, kind="offer")
        assert nxt.sent["to"] == second_phone
        assert "at 10:00 for session 1 of 6" in nxt.body
        assert link_in(nxt.body) != link_in(sms.body)

        # Her page, still open, was too late: taking it now says so kindly.
        await take.click()
        title = panel.get_by_role("heading", name="This offer has expired")
        await expect(title).to_be_focused()
        await expect(page.locator("#offer-outcome")).to_have_text(
            "This offer has expired. Other free times for session 1 of 6 are below."
        )
        await other_free_times(panel, "session 1 of 6")

        # Her link, opened again, says the same and shows what else is free.
        await page.goto(link_in(sms.body))
        await expect(panel.get_by_role("heading", name="This offer has expired")).to_be_visible()
        await expect(panel).to_contain_text(
            f"Sorry: {day_label(freed.day)} at 10:00 was yours to take until "
            f"{hhmm(offer['claim_by'])}."
        )
        await expect(panel.get_by_role("button", name="Take this time")).to_have_count(0)
        await other_free_times(panel, "session 1 of 6")
        await axe.assert_accessible(page, "an expired offer, other times shown")
    finally:
        await context.close()

    lines = {o["patient_id"]: o for o in await scenes.offers_on(freed.day)}
    assert (lines[first]["status"], lines[second]["status"]) == ("expired", "live")
    assert [a for a in await scenes.appointments(first) if a["status"] in ACTIVE] == []


async def test_an_offer_link_opened_after_someone_else_took_the_time_offers_what_else_is_free(
    scenes: Scenes,
) -> None:
    # Emma's window ends first: the time is offered to her; Felix books it by phone.
    freed = await scenes.freed_time(
        protocol="body-sculpting", indication="body_sculpting", doctor="Dr Nina Taken",
        start_in_days=14, candidates={"Emma Late": -1, "Felix Desk": 0},
    )  # fmt: skip
    late, _ = freed.patients["Emma Late"]
    desk, _ = freed.patients["Felix Desk"]
    sms = await sent_sms(scenes.stack, scenes.staff, patient_id=late, kind="offer")
    await scenes.offer_to(late, freed.day)
    taken = await scenes.book(
        await scenes.open_request(desk), freed.practitioner_id, freed.room_id, freed.starts_at
    )
    withdrawn = await scenes.offer_to(late, freed.day, status="withdrawn")
    assert withdrawn["reason"] == "the time was taken"

    context, page = await scenes.new_page(scenes.phone)
    try:
        await page.goto(link_in(sms.body))
        panel = offer_panel(page)
        await expect(
            panel.get_by_role("heading", name="Sorry, someone else took this time")
        ).to_be_visible()
        await expect(panel).to_contain_text(f"{day_label(freed.day)} at 10:00 is no longer free.")
        await expect(panel.get_by_role("button", name="Take this time")).to_have_count(0)
        await expect(page.locator("#offer-outcome")).to_have_text(
            "Sorry, someone else took this time. Other free times for session 1 of 8 are below."
        )
        slot = await other_free_times(panel, "session 1 of 8")
        # Session 1 is booked from up there: the list below offers the others, not it twice.
        listed = page.locator("#requests > li h3")
        await expect(listed.first).to_have_text("Session 2 of 8")
        await expect(listed.filter(has_text="Session 1 of 8")).to_have_count(0)
        await axe.assert_accessible(page, "an offer someone else took, other times shown")
        # The screen the patient sees first (the day's times run on below).
        await scenes.screenshot(page, "self-booking-phone-offer-taken", full_page=False)

        label = await slot.get_attribute("aria-label")
        assert label
        await slot.click()
        await expect(
            panel.get_by_role("heading", name=re.compile("^Held for you until"))
        ).to_be_focused()
        await panel.get_by_role("button", name="Confirm booking").click()
        await expect(page.get_by_role("heading", name="You are booked")).to_be_focused()
    finally:
        await context.close()

    [booked] = [a for a in await scenes.appointments(late) if a["status"] in ACTIVE]
    assert booked["status"] == "booked"
    starts_at = datetime.fromisoformat(booked["starts_at"]).astimezone(PARIS)
    assert label.startswith(f"{day_label(starts_at.date())} at {starts_at:%H:%M} with ")
    assert booked["id"] != taken["id"]
