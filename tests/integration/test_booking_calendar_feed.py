"""A practitioner's calendar feed that calendar apps subscribe to: a secret URL staff issue,
stored only as a hash, that stops working the moment it is rotated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa

from booking.adapters.db import CalendarFeedToken
from shared.auth import Role, hash_patient_token
from tests.integration.test_booking_lifecycle import at
from tests.utils.booking import Booking, running_booking


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


async def test_a_subscribed_feed_needs_no_login_and_dies_when_rotated(booking: Booking) -> None:
    mine, theirs = booking.practitioner_ids
    [request] = await booking.requests(await booking.cycle())
    body = {"booking_request_id": request["id"], "practitioner_id": mine,
            "room_id": booking.room_ids[0], "starts_at": at(request["target_date"], 9)}  # fmt: skip
    assert (await booking.post("/v1/appointments", body)).status_code == 201
    issued = await booking.post(f"/v1/practitioners/{mine}/calendar-feed")
    assert issued.status_code == 201, issued.text
    url = urlparse(issued.json()["url"])
    assert url.path == f"/v1/practitioners/{mine}/calendar.ics"
    [token] = parse_qs(url.query)["token"]
    async with booking.runtime.sessions() as session:
        stored = list(await session.scalars(sa.select(CalendarFeedToken.token_hash)))
    assert stored == [hash_patient_token(token)]  # the hash only, never the token

    anonymous = {"Authorization": ""}
    feed = await booking.client.get(url.path, params={"token": token}, headers=anonymous)
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("text/calendar")
    assert feed.text.count("BEGIN:VEVENT") == 1
    # The token opens this practitioner's feed only.
    other = await booking.client.get(
        f"/v1/practitioners/{theirs}/calendar.ics", params={"token": token}, headers=anonymous
    )
    assert other.status_code == 401
    # Rotating: the new URL works, the old one is refused.
    rotated = await booking.post(f"/v1/practitioners/{mine}/calendar-feed")
    [new_token] = parse_qs(urlparse(rotated.json()["url"]).query)["token"]
    assert new_token != token
    old = await booking.client.get(url.path, params={"token": token}, headers=anonymous)
    assert old.status_code == 401
    assert "rotated" in old.json()["detail"]
    new = await booking.client.get(url.path, params={"token": new_token}, headers=anonymous)
    assert new.status_code == 200
    # Without a token, the feed is for staff as before.
    assert (await booking.client.get(url.path, headers=anonymous)).status_code == 401
    assert (await booking.client.get(url.path)).status_code == 200


async def test_practitioners_issue_only_their_own_feed(booking: Booking) -> None:
    mine, theirs = booking.practitioner_ids
    as_me = {"Authorization": f"Bearer {booking.token(Role.PRACTITIONER, mine)}"}
    own = await booking.post(f"/v1/practitioners/{mine}/calendar-feed", headers=as_me)
    assert own.status_code == 201
    other = await booking.post(f"/v1/practitioners/{theirs}/calendar-feed", headers=as_me)
    assert other.status_code == 403
    unknown = await booking.post(
        "/v1/practitioners/00000000-0000-0000-0000-000000000000/calendar-feed"
    )
    assert unknown.status_code == 404
