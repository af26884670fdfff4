"""Booking the rest of a course in one step from the patient's page, in a real Chromium
against the real services: once a session is booked, the page proposes every other open
session at its weekday and time with its practitioner, points out where that time is
taken, and books them all in one transaction, or none of them."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx
from playwright.async_api import expect

from tests.e2e import axe
from tests.e2e.conftest import PARIS

if TYPE_CHECKING:
    from tests.e2e.web_fixtures import Scenes

pytest_plugins = ["tests.e2e.web_fixtures"]

PART_OF_DAY = re.compile(r"^(Morning|Afternoon|Evening)$")
ACTIVE = ("held", "booked", "confirmed")


def paris(instant: str) -> datetime:
    return datetime.fromisoformat(instant).astimezone(PARIS)


def day_label(day: date) -> str:
    """The page's name of a day: "Wednesday 17 June"."""
    return f"{day:%A} {day.day} {day:%B}"


def short_label(instant: datetime) -> str:
    """The page's short name of a time: "Wed 17 Jun 10:00"."""
    return f"{instant:%a} {instant.day} {instant:%b} {instant:%H:%M}"


async def rest_of_course(scenes: Scenes, link: str, appointment_id: str) -> dict[str, Any]:
    """The proposal the page shows, as the self-booking API gives it to the link."""
    headers = {"X-Patient-Token": link.rsplit("/", 1)[1]}
    async with httpx.AsyncClient(headers=headers, timeout=10) as api:
        response = await api.get(
            f"{scenes.stack.urls['booking']}/v1/self-booking/appointments/"
            f"{appointment_id}/rest-of-course"
        )
    response.raise_for_status()
    proposal: dict[str, Any] = response.json()
    return proposal


async def active_sessions(scenes: Scenes, patient_id: str) -> dict[int, dict[str, Any]]:
    """The patient's active appointments by session number."""
    response = await scenes.staff.get(
        f"{scenes.stack.urls['booking']}/v1/booking-requests", params={"patient_id": patient_id}
    )
    response.raise_for_status()
    numbers = {r["id"]: r["session_number"] for r in response.json()}
    return {
        numbers[a["booking_request_id"]]: a
        for a in await scenes.appointments(patient_id)
        if a["status"] in ACTIVE
    }


async def test_the_rest_of_the_course_is_booked_in_one_step_and_none_of_it_when_a_time_is_refused(
    scenes: Scenes,
) -> None:
    """Eight hair-regrowth sessions a fortnight apart: session 1 booked from the page, the
    seven others proposed at its weekday and time; the desk books another patient into the
    time proposed for session 2 before she confirms, so nothing is booked and the page
    proposes again, session 2 marked changed; then all seven are booked at once."""
    # Yves's course starts on the day proposed for her session 2 (a fortnight after hers).
    (patient_id, _), (other_id, _) = await asyncio.gather(
        scenes.patient_with_plan(name="Gaelle Course", phone=scenes.new_phone(),
                                 start_in_days=20, protocol="hair-regrowth"),
        scenes.patient_with_plan(name="Yves Desk", phone=scenes.new_phone(),
                                 start_in_days=34, protocol="hair-regrowth"),
    )  # fmt: skip
    link = await scenes.invitation_link(patient_id)
    context, page = await scenes.new_page(scenes.phone)
    try:
        await page.goto(link)
        card = page.locator("#requests > li").filter(
            has=page.get_by_role("heading", name="Session 1 of 8", exact=True)
        )
        await card.get_by_role("button", name="Choose a time").click()
        await card.get_by_role("group", name=PART_OF_DAY).first.get_by_role("button").first.click()
        await card.get_by_role("button", name="Confirm booking").click()
        await expect(page.get_by_role("heading", name="You are booked")).to_be_focused()
        [first] = (await active_sessions(scenes, patient_id)).values()
        anchor = paris(first["starts_at"])

        course = page.locator("#course")
        await expect(
            course.get_by_role("heading", name="Book the rest of your course at the same time")
        ).to_be_visible()
        await expect(course).to_contain_text(
            f"Every {anchor:%A} at {anchor:%H:%M} with Dr Claire Martin"
        )
        items = course.get_by_role("list", name="The rest of your course").get_by_role("listitem")
        await expect(items).to_have_count(7)
        proposal = await rest_of_course(scenes, link, first["id"])
        assert proposal["complete"]
        sessions = proposal["sessions"]
        assert [s["session_number"] for s in sessions] == list(range(2, 9))
        for item, proposed in zip(await items.all(), sessions, strict=True):
            slot = proposed["slot"]
            starts = paris(slot["starts_at"])
            assert slot["practitioner_id"] == first["practitioner_id"]
            await expect(item).to_contain_text(f"Session {proposed['session_number']} of 8")
            await expect(item).to_contain_text(
                f"{day_label(starts.date())} at {starts:%H:%M} with Dr Claire Martin"
            )
        book = course.get_by_role("button", name="Book these 7 sessions")
        await expect(book).to_be_enabled()
        await axe.assert_accessible(page, "the rest of the course proposed")

        # Before she confirms, the desk books Yves into the time proposed for session 2.
        wanted = sessions[0]["slot"]
        assert proposal["sessions"][0]["as_wanted"], proposal["sessions"][0]
        yves = await scenes.open_request(other_id)
        assert yves["earliest_date"] <= paris(wanted["starts_at"]).date().isoformat()
        taken = await scenes.book(
            yves, wanted["practitioner_id"], wanted["room_id"], paris(wanted["starts_at"])
        )
        await book.click()
        refused = course.get_by_role("alert")
        await expect(refused).to_be_focused()
        await expect(refused.get_by_role("heading", name="Nothing was booked")).to_be_visible()
        await expect(refused).to_contain_text(re.compile(r"Session 2: .+; nothing was booked\."))
        # Nothing of the course was booked: session 1 alone, as before.
        assert list(await active_sessions(scenes, patient_id)) == [1]

        # Proposed again, with the time free now for session 2, marked as changed.
        changed = items.filter(has_text="Session 2 of 8")
        await expect(changed).to_contain_text(
            re.compile(rf"Changed: {short_label(paris(wanted['starts_at']))} is taken: .+ instead")
        )
        again = await rest_of_course(scenes, link, first["id"])
        assert not again["sessions"][0]["as_wanted"]
        assert again["sessions"][0]["slot"]["starts_at"] != wanted["starts_at"]
        await expect(items).to_have_count(7)
        await axe.assert_accessible(page, "the rest of the course proposed again, one changed")
        await scenes.screenshot(page, "self-booking-phone-course")

        await course.get_by_role("button", name="Book these 7 sessions").click()
        done = course.get_by_role("heading", name="Your 7 sessions are booked")
        await expect(done).to_be_focused()
        await expect(page.locator("#course-outcome")).to_have_text(
            "All 7 sessions of the rest of your course are booked."
        )
    finally:
        await context.close()

    booked = await active_sessions(scenes, patient_id)
    assert sorted(booked) == list(range(1, 9))
    assert all(a["status"] == "booked" for a in booked.values())
    proposed = {s["session_number"]: s["slot"] for s in again["sessions"]}
    for number, slot in proposed.items():
        assert paris(booked[number]["starts_at"]) == paris(slot["starts_at"]), number
        assert booked[number]["practitioner_id"] == slot["practitioner_id"], number
    assert paris(booked[2]["starts_at"]) != paris(taken["starts_at"])
