"""Bad input gets a clear 4xx problem document, never a 500, and changes nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from devstack.stack import Stack
from shared.auth import Role
from tests.e2e.conftest import paris_today
from tests.e2e.test_plan_to_sms import new_patient, open_requests

PARIS = ZoneInfo("Europe/Paris")
PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail


async def test_staff_calls_need_a_valid_token_with_the_right_role(stack: Stack) -> None:
    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(f"{stack.urls['plans']}/v1/protocols")
        assert_problem(response, 401, "Bearer")
        forged = {"Authorization": "Bearer not.a.jwt"}
        response = await anonymous.get(f"{stack.urls['plans']}/v1/protocols", headers=forged)
        assert_problem(response, 401, "not valid")
        practitioner = {"Authorization": f"Bearer {stack.staff_token(Role.PRACTITIONER)}"}
        response = await anonymous.post(
            f"{stack.urls['booking']}/v1/rooms", json={}, headers=practitioner
        )
        assert_problem(response, 403, "admin")


async def test_an_invalid_phone_number_is_refused_with_the_reason(
    stack: Stack, staff: httpx.AsyncClient
) -> None:
    response = await staff.post(
        f"{stack.urls['plans']}/v1/patients",
        json={"full_name": "X", "phone": "+331", "time_zone": "Europe/Paris", "sms_consent": True},
    )
    assert_problem(response, 422, "phone")
    response = await staff.post(
        f"{stack.urls['plans']}/v1/patients",
        json={"full_name": "X", "phone": "+33612345678", "time_zone": "Mars/Base",
              "sms_consent": True},
    )  # fmt: skip
    assert_problem(response, 422, "time zone")
    response = await staff.post(
        f"{stack.urls['plans']}/v1/patients",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422)


async def test_plans_refuse_unknown_protocols_past_dates_and_a_second_activation(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    patient = await new_patient(staff, stack, "+33644556677")
    plan: dict[str, Any] = {
        "patient_id": patient["id"],
        "protocol_id": clinic["protocol_ids"]["face-neck"],
        "areas": ["face"],
        "start_date": (paris_today(stack) + timedelta(days=1)).isoformat(),
    }
    url = f"{stack.urls['plans']}/v1/plans"
    response = await staff.post(url, json={**plan, "protocol_id": patient["id"]})
    assert_problem(response, 422, "unknown protocol")
    response = await staff.post(url, json={**plan, "areas": ["knees"]})
    assert_problem(response, 422, "does not treat knees")
    response = await staff.post(url, json={**plan, "start_date": "2020-01-01"})
    assert_problem(response, 422, "in the past")
    response = await staff.post(url, json=plan)
    assert response.status_code == 201
    plan_id = response.json()["id"]
    assert (await staff.post(f"{url}/{plan_id}/activate")).status_code == 200
    response = await staff.post(f"{url}/{plan_id}/activate")
    assert_problem(response, 409, "only a draft plan")
    response = await staff.get(f"{url}/{patient['id']}")
    assert_problem(response, 404, "no plan")


async def test_a_taken_slot_is_a_409_naming_what_is_taken(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    starts = datetime.combine(paris_today(stack) + timedelta(days=1), time(17, 0), PARIS)
    requests = []
    for phone in ("+33655667788", "+33666778899"):
        patient = await new_patient(staff, stack, phone)
        response = await staff.post(
            f"{stack.urls['plans']}/v1/plans",
            json={
                "patient_id": patient["id"],
                "protocol_id": clinic["protocol_ids"]["weight-loss"],
                "areas": ["abdomen"],
                "start_date": starts.date().isoformat(),
            },
        )
        await staff.post(f"{stack.urls['plans']}/v1/plans/{response.json()['id']}/activate")
        requests.append((await open_requests(staff, stack, patient["id"], count=10))[0])

    def booking(request: dict[str, Any], room: int, at: datetime) -> dict[str, Any]:
        return {
            "booking_request_id": request["id"],
            "practitioner_id": clinic["practitioner_ids"][1],
            "room_id": clinic["room_ids"][room],
            "starts_at": at.isoformat(),
        }

    url = f"{stack.urls['booking']}/v1/appointments"
    assert (await staff.post(url, json=booking(requests[0], 0, starts))).status_code == 201
    # Same practitioner, other room, starting inside the first one's buffer: taken.
    response = await staff.post(url, json=booking(requests[1], 1, starts + timedelta(minutes=35)))
    assert_problem(response, 409, "practitioner is already booked")
    assert response.json()["conflict"] == "practitioner"
    response = await staff.post(url, json=booking(requests[0], 1, starts + timedelta(hours=2)))
    assert_problem(response, 409, "booked, not open")
    response = await staff.post(url, json=booking(requests[1], 1, starts + timedelta(days=30)))
    assert_problem(response, 422, "outside its window")
    response = await staff.post(
        url, json={**booking(requests[1], 1, starts), "starts_at": "tomorrow"}
    )
    assert_problem(response, 422, "starts_at")


async def test_text_postgresql_cannot_hold_and_numbers_past_its_range_are_a_422(
    stack: Stack, staff: httpx.AsyncClient
) -> None:
    """Found by fuzzing the OpenAPI documents: each of these was a 500."""
    plans, booking, notify = (stack.urls[s] for s in ("plans", "booking", "notify"))
    patient = {"full_name": "Léa\u0000 Martin", "phone": "+33611220099",
               "time_zone": "Europe/Paris", "sms_consent": True}  # fmt: skip
    assert_problem(await staff.post(f"{plans}/v1/patients", json=patient), 422, "NUL")
    found = await staff.get(f"{plans}/v1/patients", params={"q": "+33611220099"})
    assert found.json() == []  # nothing was stored
    response = await staff.get(f"{plans}/v1/patients", params={"q": "L\u0000"})
    assert_problem(response, 422, "NUL")
    # An unpaired surrogate is valid JSON but not Unicode: pydantic refuses it.
    unpaired = b'{"name": "Salle \\udc00", "time_zone": "Europe/Paris"}'
    response = await staff.post(
        f"{booking}/v1/locations", content=unpaired, headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "unicode string")
    response = await staff.get(f"{booking}/v1/appointments", params={"offset": 10**20})
    assert_problem(response, 422, "offset")
    response = await staff.get(f"{booking}/v1/schedule", params={"day": "0001-01-01"})
    assert_problem(response, 422, "day")
    response = await staff.put(f"{notify}/v1/templates/fr/cancellation", json={"body": "a\u0000"})
    assert_problem(response, 422, "NUL")
    policy = (await staff.get(f"{notify}/v1/policy")).json()
    response = await staff.put(
        f"{notify}/v1/policy", json={**policy, "quiet_hours_start": "21:00:00+01:00"}
    )
    assert_problem(response, 422, "without a UTC offset")


async def test_what_the_documents_promise_is_what_is_answered(
    stack: Stack, staff: httpx.AsyncClient
) -> None:
    """Found by schemathesis with every check (README: the fuzzing): each was answered
    against the OpenAPI documents."""
    plans, booking = stack.urls["plans"], stack.urls["booking"]
    patient = await new_patient(staff, stack, "+33611220088")
    # Another method: 405, and Allow names every method of the path, not the first route's.
    response = await staff.request("OPTIONS", f"{plans}/v1/patients/{patient['id']}")
    assert_problem(response, 405, "OPTIONS")
    assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    # Numbers and instants as JSON and RFC 3339 say, not what pydantic would read into them.
    protocol = {"key": "strict-types", "name": "Strict", "indication": "cellulite",
                "areas": ["thighs"], "session_count": "6", "interval_days": 14,
                "tolerance_days": 3, "session_minutes": 30,
                "numbing_cream_advised": True}  # fmt: skip
    response = await staff.post(f"{plans}/v1/protocols", json=protocol)
    assert_problem(response, 422, "session_count")
    response = await staff.get(f"{booking}/v1/appointments", params={"starts_from": "0.5"})
    assert_problem(response, 422, "starts_from", "ISO 8601")
    # A retired protocol is gone for a reader, not still there as if nothing happened.
    created = await staff.post(f"{plans}/v1/protocols", json={**protocol, "session_count": 6})
    assert created.status_code == 201, created.text
    url = f"{plans}/v1/protocols/{created.json()['id']}"
    assert (await staff.delete(url)).status_code == 204
    assert_problem(await staff.get(url), 410, "retired")
    # A staff password is text a database could hold: no NUL, even hashed.
    account = {"email": "nul@clinic.example", "display_name": "Nul", "role": "staff",
               "password": "long enough\u0000password"}  # fmt: skip
    response = await staff.post(f"{booking}/v1/staff-accounts", json=account)
    assert_problem(response, 422, "password")
