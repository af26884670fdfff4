"""Earlier-slot offers: who may be offered freed time, in which order, and an offer's life."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from booking.domain.course import Allowed
from booking.domain.offers import (
    Candidate,
    FreedSlot,
    OfferAction,
    OfferClosed,
    OfferPolicy,
    candidates_for,
    next_offer_status,
)
from shared.contracts.booking import OfferStatus

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 6, 16, 10, 0, tzinfo=PARIS)  # a Tuesday morning
DR_A, DR_B = uuid.uuid4(), uuid.uuid4()
SLOT = FreedSlot(
    practitioner_id=DR_A, room_id=uuid.uuid4(), location_id=uuid.uuid4(),
    time_zone="Europe/Paris", starts_at=datetime(2026, 6, 18, 14, 0, tzinfo=PARIS),
    minutes=45, indications=frozenset({"cellulite", "hair_regrowth"}),
)  # fmt: skip
ANY_DAY = Allowed(previous=None, next=None, earliest=None, latest=None)
POLICY = OfferPolicy()


def candidate(name: str, **changes: object) -> Candidate:
    """An open session whose window holds the slot's day, waiting since Monday."""
    base = Candidate(
        booking_request_id=uuid.uuid5(uuid.NAMESPACE_DNS, name), patient_id=uuid.uuid4(),
        session_number=2, indication="cellulite", session_minutes=30,
        earliest_date=date(2026, 6, 15), latest_date=date(2026, 6, 25),
        waiting_since=datetime(2026, 6, 15, 9, 0, tzinfo=PARIS), allowed=ANY_DAY,
        previous_practitioner_id=None, time_zone="Europe/Paris", offers_today=0,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def order(candidates: list[Candidate], now: datetime = NOW) -> list[uuid.UUID]:
    return [c.booking_request_id for c in candidates_for(SLOT, candidates, now=now, policy=POLICY)]


def test_best_first_window_end_then_former_practitioner_then_longest_wait() -> None:
    """Open sessions before booked ones that could move earlier."""
    urgent = candidate("urgent", latest_date=date(2026, 6, 19))
    had_dr_a = candidate("had_dr_a", previous_practitioner_id=DR_A)
    waited = candidate("waited", waiting_since=datetime(2026, 6, 1, 9, 0, tzinfo=PARIS))
    newest = candidate("newest", previous_practitioner_id=DR_B)
    moving = candidate(
        "moving", latest_date=date(2026, 6, 18), appointment_id=uuid.uuid4(),
        appointment_starts_at=datetime(2026, 6, 24, 9, 0, tzinfo=PARIS),
    )  # fmt: skip
    assert order([newest, moving, waited, had_dr_a, urgent]) == [
        c.booking_request_id for c in (urgent, had_dr_a, waited, newest, moving)
    ]


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("the practitioner does not treat it", {"indication": "weight_loss"}),
        ("the session is longer than the freed time", {"session_minutes": 60}),
        ("the day is before its window", {"earliest_date": date(2026, 6, 19)}),
        ("the day is after its window", {"latest_date": date(2026, 6, 17)}),
        (
            "the spacing rule forbids the day",
            {"allowed": Allowed(None, None, earliest=date(2026, 6, 20), latest=None)},
        ),
        ("the patient had their offers today", {"offers_today": 2}),
        ("it is night where the patient lives", {"time_zone": "America/Los_Angeles"}),
        ("they had this very slot already", {"already_offered": True}),
        (
            "their booked session is earlier already",
            {
                "appointment_id": uuid.uuid4(),
                "appointment_starts_at": datetime(2026, 6, 17, 9, 0, tzinfo=PARIS),
            },
        ),
    ],
)
def test_nobody_is_offered_what_a_rule_forbids(why: str, changes: dict[str, object]) -> None:
    assert order([candidate("x", **changes)]) == [], why


def test_no_offer_inside_the_minimum_notice() -> None:
    soon = SLOT.starts_at - timedelta(hours=1, minutes=59)
    assert order([candidate("x")], now=soon) == []
    assert order([candidate("x")], now=soon - timedelta(minutes=1)) != []


def test_an_offer_changes_once_and_a_closed_one_says_how_it_ended() -> None:
    assert next_offer_status(OfferStatus.LIVE, OfferAction.CLAIM) == OfferStatus.CLAIMED
    assert next_offer_status(OfferStatus.LIVE, OfferAction.EXPIRE) == OfferStatus.EXPIRED
    with pytest.raises(OfferClosed) as closed:
        next_offer_status(OfferStatus.EXPIRED, OfferAction.CLAIM)
    assert closed.value.detail == "this offer is expired"
    assert closed.value.facts == {"offer_status": "expired"}
