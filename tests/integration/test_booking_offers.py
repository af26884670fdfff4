"""Earlier-slot offers against the real database: a cancellation (or a move) frees time,
offered to the best candidate first; when nobody claims it in time, or they pass, to the
next; the patient claims it from their link; a time taken meanwhile withdraws it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from booking.adapters.db import SlotOffer
from booking.workers.sweeper import Sweeper
from shared.contracts.notify import (
    MessageKind,
    MessageStatus,
    MessageStatusChanged,
    OfferRefused,
    QuietHoursChanged,
)
from shared.contracts.plans import PatientRegistered, PlanCancelled
from tests.utils.booking import Booking, running_booking, token_of

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2026, 1, 8)  # a Thursday; the clinic's clock starts on Monday the 5th


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


async def open_session(booking: Booking, *, first: date, slack_days: int) -> dict[str, Any]:
    [request] = await booking.requests(await booking.cycle(first=first, slack_days=slack_days))
    return request


async def offer_events(booking: Booking) -> list[dict[str, Any]]:
    """The slot and offer events booking staged so far, oldest first."""
    return [e for e in await booking.events() if ".offer_" in e["type"] or ".slot_" in e["type"]]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"].split(".")[2] for e in events]


async def test_a_cancelled_session_is_offered_best_first_and_to_the_next_when_it_expires(
    booking: Booking,
) -> None:
    cancelling = await open_session(booking, first=DAY, slack_days=1)
    urgent = await open_session(booking, first=DAY, slack_days=1)  # its window ends first
    relaxed = await open_session(booking, first=DAY + timedelta(days=2), slack_days=3)
    starts_at = datetime.combine(DAY, time(10), PARIS)
    booked = await booking.post("/v1/appointments", {
        "booking_request_id": cancelling["id"], "practitioner_id": booking.practitioner_ids[0],
        "room_id": booking.room_ids[0], "starts_at": starts_at.isoformat(),
    })  # fmt: skip
    assert booked.status_code == 201, booked.text

    cancelled = await booking.post(f"/v1/appointments/{booked.json()['id']}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    freed, made = await offer_events(booking)
    assert freed["type"].endswith("slot_freed.v1")
    assert freed["appointment_id"] == booked.json()["id"]
    assert datetime.fromisoformat(freed["starts_at"]) == starts_at
    assert made["type"].endswith("offer_made.v1")
    assert made["booking_request_id"] == urgent["id"]  # not the one that cancelled
    page = {"X-Patient-Token": token_of(made["link_url"])}
    shown = await booking.client.get("/v1/self-booking/offer", headers=page)
    assert shown.status_code == 200, shown.text
    assert (shown.json()["id"], shown.json()["status"]) == (made["offer_id"], "live")
    claim_by = booking.clock.now() + timedelta(minutes=30)
    assert datetime.fromisoformat(made["claim_by"]) == claim_by

    booking.clock.set(claim_by - timedelta(seconds=1))
    await Sweeper(booking.runtime).one_pass()
    assert len(await offer_events(booking)) == 2  # still live: nothing expires early

    booking.clock.set(claim_by)
    await Sweeper(booking.runtime).one_pass()
    events = await offer_events(booking)
    assert kinds(events) == ["slot_freed", "offer_made", "offer_expired", "offer_made"]
    [_, _, expired, following] = events
    assert (expired["offer_id"], expired["status"]) == (made["offer_id"], "expired")
    assert following["booking_request_id"] == relaxed["id"]

    booking.clock.advance(timedelta(minutes=30))
    await Sweeper(booking.runtime).one_pass()
    after = kinds(await offer_events(booking))
    assert after[-1] == "offer_expired"  # nobody left who has not had it
    assert after.count("offer_made") == 2


async def test_no_offer_while_the_clinic_has_offers_off(
    fresh_database: str, bootstrap_servers: str
) -> None:
    async with running_booking(
        fresh_database, bootstrap_servers, offer_freed_slots=False
    ) as booking:
        await booking.seed_clinic()
        cancelling = await open_session(booking, first=DAY, slack_days=1)
        await open_session(booking, first=DAY, slack_days=1)
        booked = await booking.post("/v1/appointments", {
            "booking_request_id": cancelling["id"],
            "practitioner_id": booking.practitioner_ids[0], "room_id": booking.room_ids[0],
            "starts_at": datetime.combine(DAY, time(10), PARIS).isoformat(),
        })  # fmt: skip
        await booking.post(f"/v1/appointments/{booked.json()['id']}/cancel", {})
        assert await offer_events(booking) == []


async def book(booking: Booking, request: dict[str, Any], starts_at: datetime, **kw: Any) -> str:
    """Staff book ``request`` at ``starts_at`` with the first practitioner and room."""
    booked = await booking.post("/v1/appointments", {
        "booking_request_id": request["id"], "practitioner_id": booking.practitioner_ids[0],
        "room_id": booking.room_ids[0], "starts_at": starts_at.isoformat(), **kw,
    })  # fmt: skip
    assert booked.status_code == 201, booked.text
    appointment_id: str = booked.json()["id"]
    return appointment_id


async def freed_and_offered(booking: Booking, at: datetime) -> dict[str, Any]:
    """Book a session of its own at ``at``, cancel it: the offer made for the time."""
    cancelling = await open_session(booking, first=at.date(), slack_days=1)
    appointment_id = await book(booking, cancelling, at)
    cancelled = await booking.post(f"/v1/appointments/{appointment_id}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    made: dict[str, Any] = (await booking.events("offer_made.v1"))[-1]
    return made


def link_of(offer: dict[str, Any]) -> dict[str, str]:
    return {"X-Patient-Token": token_of(offer["link_url"])}


async def test_the_patient_claims_their_offer_from_its_link_once(booking: Booking) -> None:
    waiting = await open_session(booking, first=DAY, slack_days=2)
    at = datetime.combine(DAY, time(10), PARIS)
    made = await freed_and_offered(booking, at)
    assert made["booking_request_id"] == waiting["id"]

    claimed = await booking.post("/v1/self-booking/offer/claim", headers=link_of(made))
    assert claimed.status_code == 200, claimed.text
    appointment = claimed.json()
    assert appointment["status"] == "booked"
    assert appointment["booking_request_id"] == waiting["id"]
    assert datetime.fromisoformat(appointment["starts_at"]) == at
    [closed] = await booking.events("offer_claimed.v1")
    assert (closed["offer_id"], closed["status"]) == (made["offer_id"], "claimed")
    [request] = await booking.requests(str(waiting["plan_id"]))
    assert request["status"] == "booked"

    again = await booking.post("/v1/self-booking/offer/claim", headers=link_of(made))
    assert again.status_code == 409, again.text
    assert again.json()["offer_status"] == "claimed"
    shown = await booking.client.get("/v1/self-booking/offer", headers=link_of(made))
    assert shown.json()["status"] == "claimed"


async def test_two_claims_at_once_one_wins_the_other_gets_409(booking: Booking) -> None:
    await open_session(booking, first=DAY, slack_days=2)
    made = await freed_and_offered(booking, datetime.combine(DAY, time(11), PARIS))

    answers = await asyncio.gather(
        *(booking.post("/v1/self-booking/offer/claim", headers=link_of(made)) for _ in range(2))
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert len(await booking.events("offer_claimed.v1")) == 1
    assert len(await booking.events("appointment_booked.v1")) == 2  # the cancelled one's, this


async def test_time_taken_by_staff_withdraws_the_offer_and_its_link_says_so(
    booking: Booking,
) -> None:
    await open_session(booking, first=DAY, slack_days=2)
    at = datetime.combine(DAY, time(14), PARIS)
    made = await freed_and_offered(booking, at)
    walk_in = await open_session(booking, first=DAY, slack_days=1)
    await book(booking, walk_in, at)

    [withdrawn] = await booking.events("offer_withdrawn.v1")
    assert (withdrawn["offer_id"], withdrawn["reason"]) == (made["offer_id"], "the time was taken")
    assert len(await booking.events("offer_made.v1")) == 1  # nobody else: the time is gone
    shown = await booking.client.get("/v1/self-booking/offer", headers=link_of(made))
    assert (shown.json()["status"], shown.json()["reason"]) == ("withdrawn", "the time was taken")
    claimed = await booking.post("/v1/self-booking/offer/claim", headers=link_of(made))
    assert claimed.status_code == 409
    assert claimed.json()["offer_status"] == "withdrawn"


async def test_passing_on_by_page_by_sms_or_unreachable_offers_the_next(
    booking: Booking,
) -> None:
    first = await open_session(booking, first=DAY, slack_days=1)
    second = await open_session(booking, first=DAY, slack_days=2)
    third = await open_session(booking, first=DAY, slack_days=3)
    made = await freed_and_offered(booking, datetime.combine(DAY, time(15), PARIS))
    assert made["booking_request_id"] == first["id"]

    passed = await booking.post("/v1/self-booking/offer/decline", headers=link_of(made))
    assert passed.status_code == 200, passed.text
    assert passed.json()["status"] == "declined"
    second_offer = (await booking.events("offer_made.v1"))[-1]
    assert second_offer["booking_request_id"] == second["id"]

    await booking.apply(
        OfferRefused(
            offer_id=second_offer["offer_id"], patient_id=second_offer["patient_id"],
            received_at=booking.clock.now(),
        )
    )  # fmt: skip
    [_, declined] = await booking.events("offer_declined.v1")
    assert (declined["offer_id"], declined["reason"]) == (
        second_offer["offer_id"],
        "the patient replied NO",
    )
    third_offer = (await booking.events("offer_made.v1"))[-1]
    assert third_offer["booking_request_id"] == third["id"]

    await booking.apply(
        MessageStatusChanged(
            message_id=uuid.uuid4(), appointment_id=None, patient_id=third_offer["patient_id"],
            kind=MessageKind.OFFER, status=MessageStatus.SKIPPED, error_code=None,
            changed_at=booking.clock.now(), reason="the patient opted out (STOP)",
            offer_id=third_offer["offer_id"],
        )
    )  # fmt: skip
    [expired] = await booking.events("offer_expired.v1")
    assert expired["offer_id"] == third_offer["offer_id"]
    assert "did not reach the patient" in expired["reason"]
    assert len(await booking.events("offer_made.v1")) == 3  # nobody left


async def test_a_cancelled_plan_withdraws_its_offer_and_the_time_goes_on(
    booking: Booking,
) -> None:
    first = await open_session(booking, first=DAY, slack_days=1)
    second = await open_session(booking, first=DAY, slack_days=2)
    made = await freed_and_offered(booking, datetime.combine(DAY, time(16), PARIS))
    assert made["booking_request_id"] == first["id"]

    await booking.apply(
        PlanCancelled(
            plan_id=first["plan_id"], patient_id=first["patient_id"], reason="patient moved away"
        )
    )
    [withdrawn] = await booking.events("offer_withdrawn.v1")
    assert withdrawn["offer_id"] == made["offer_id"]
    assert (await booking.events("offer_made.v1"))[-1]["booking_request_id"] == second["id"]


async def test_a_booked_session_moves_earlier_only_for_patients_who_take_earlier_offers(
    booking: Booking,
) -> None:
    later = datetime.combine(DAY + timedelta(days=2), time(9), PARIS)
    # Booked on its window's last day, by a patient who uses their link (a self-booking
    # patient; the others are texted links too, in invite mode, but never opened them).
    keen = await open_session(booking, first=DAY + timedelta(days=1), slack_days=1)
    used = await booking.client.get(
        "/v1/self-booking/requests", headers=await booking.patient_link(keen["id"])
    )
    assert used.status_code == 200, used.text
    appointment_id = await book(booking, keen, later)
    await booking.apply(
        PatientRegistered(
            patient_id=keen["patient_id"], full_name="Ada Keen", phone="+33612345678",
            time_zone="Europe/Paris", language="fr", sms_consent=True, needle_sensitive=False,
        )
    )  # fmt: skip
    choice = f"/v1/patients/{keen['patient_id']}/earlier-offers"

    # Staff turn earlier offers off for them: freed time they could use is not offered.
    off = await booking.client.put(choice, json={"earlier_offers": False})
    assert off.status_code == 200, off.text
    freeing = await open_session(booking, first=DAY + timedelta(days=1), slack_days=1)
    freed_by = await book(
        booking, freeing, datetime.combine(DAY + timedelta(days=1), time(9), PARIS)
    )
    assert (await booking.post(f"/v1/appointments/{freed_by}/cancel", {})).status_code == 200
    assert await booking.events("offer_made.v1") == []
    # (That session is open again: booked elsewhere, out of the way. Its patient never
    # opened a link: no earlier offers for them by default.)
    await book(booking, freeing, datetime.combine(DAY + timedelta(days=1), time(12), PARIS))

    # Back to the default (on, for a patient who used their link): offered, taken, moved.
    default = await booking.client.put(choice, json={"earlier_offers": None})
    assert default.status_code == 200, default.text
    at = datetime.combine(DAY, time(9), PARIS)
    made = await freed_and_offered(booking, at)
    assert (made["booking_request_id"], made["appointment_id"]) == (keen["id"], appointment_id)
    claimed = await booking.post("/v1/self-booking/offer/claim", headers=link_of(made))
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["id"] == appointment_id
    assert datetime.fromisoformat(claimed.json()["starts_at"]) == at
    [moved] = await booking.events("appointment_rescheduled.v1")
    assert moved["appointment_id"] == appointment_id
    # The time the move left is freed in turn.
    freed = (await booking.events("slot_freed.v1"))[-1]
    assert datetime.fromisoformat(freed["starts_at"]) == later


async def test_staff_see_the_offers_of_a_day(booking: Booking) -> None:
    await open_session(booking, first=DAY, slack_days=2)
    made = await freed_and_offered(booking, datetime.combine(DAY, time(17), PARIS))
    day = await booking.client.get(
        "/v1/offers", params={"day": DAY.isoformat(), "location_id": booking.location_id}
    )
    assert day.status_code == 200, day.text
    [line] = day.json()
    assert (line["id"], line["status"], line["session_number"]) == (made["offer_id"], "live", 1)
    other_day = await booking.client.get(
        "/v1/offers",
        params={"day": (DAY + timedelta(days=1)).isoformat(), "location_id": booking.location_id},
    )
    assert other_day.json() == []
    unknown = await booking.client.get(
        "/v1/offers", params={"day": DAY.isoformat(), "location_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404


async def test_a_claim_that_finds_its_time_just_taken_ends_the_offer(booking: Booking) -> None:
    """The desk books the time while a claim holds the offer's row (so the desk's booking
    passes over it): the claim is refused, and the offer ends then, not at claim_by."""
    await open_session(booking, first=DAY, slack_days=2)
    at = datetime.combine(DAY, time(12), PARIS)
    made = await freed_and_offered(booking, at)
    walk_in = await open_session(booking, first=DAY, slack_days=1)
    async with booking.runtime.sessions.begin() as claiming:
        await claiming.get(SlotOffer, uuid.UUID(made["offer_id"]), with_for_update=True)
        await book(booking, walk_in, at)
    assert await booking.events("offer_withdrawn.v1") == []  # passed over: it was locked

    claimed = await booking.post("/v1/self-booking/offer/claim", headers=link_of(made))
    assert claimed.status_code == 409, claimed.text
    [withdrawn] = await booking.events("offer_withdrawn.v1")
    assert (withdrawn["offer_id"], withdrawn["reason"]) == (made["offer_id"], "the time was taken")
    assert len(await booking.events("offer_made.v1")) == 1  # the time is gone: nobody else


async def test_offers_keep_the_quiet_hours_notify_s_policy_has(booking: Booking) -> None:
    """notify's policy says 20:00-09:00: at 08:30 (outside the default 21:00-08:00) the
    patient is in quiet hours, so nobody is offered the time; a late, older revision
    changes nothing."""
    await open_session(booking, first=DAY, slack_days=2)
    changed_at = booking.clock.now()
    await booking.apply(
        QuietHoursChanged(
            quiet_hours_start=time(20), quiet_hours_end=time(9), revision=2, changed_at=changed_at
        )
    )
    await booking.apply(
        QuietHoursChanged(
            quiet_hours_start=time(21), quiet_hours_end=time(8), revision=1, changed_at=changed_at
        )
    )
    booking.clock.set(datetime.combine(date(2026, 1, 6), time(8, 30), PARIS))
    cancelling = await open_session(booking, first=DAY, slack_days=1)
    appointment_id = await book(booking, cancelling, datetime.combine(DAY, time(10), PARIS))
    assert (await booking.post(f"/v1/appointments/{appointment_id}/cancel", {})).status_code == 200
    assert len(await booking.events("slot_freed.v1")) == 1
    assert await booking.events("offer_made.v1") == []

    booking.clock.set(datetime.combine(date(2026, 1, 6), time(9), PARIS))  # awake again
    made = await freed_and_offered(booking, datetime.combine(DAY, time(11), PARIS))
    assert made["type"].endswith("offer_made.v1")
