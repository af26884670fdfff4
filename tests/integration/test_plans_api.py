"""The plans API through its real app, PostgreSQL and broker: patients, protocols, plans,
the safety acknowledgement, lists with pagination and filters, and bad input as 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.utils.plans import (
    NOW,
    PATIENT,
    PlansApp,
    active_plan,
    new_patient,
    protocol_id,
    running_plans,
)

PROBLEM = "application/problem+json"
TOMORROW = (NOW.date() + timedelta(days=1)).isoformat()


@pytest.fixture
async def plans_app(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[PlansApp]:
    async with running_plans(fresh_database, bootstrap_servers) as app:
        yield app


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


async def test_a_patient_is_registered_read_updated_and_announced(plans_app: PlansApp) -> None:
    patient = await new_patient(plans_app, phone="+33 6 11 22 33 44")
    assert patient["phone"] == "+33611223344"
    assert patient["sms_consent_at"] is not None

    plans_app.clock.advance(timedelta(hours=1))
    response = await plans_app.client.patch(
        f"/v1/patients/{patient['id']}",
        json={"sms_consent": False, "sms_consent_source": "asked at the desk"},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["sms_consent"], updated["sms_consent_source"]) == (False, "asked at the desk")
    assert updated["sms_consent_at"] > patient["sms_consent_at"]

    # A note is not contact data: only the consent change went out.
    await plans_app.client.patch(f"/v1/patients/{patient['id']}", json={"notes": "x"})
    registered = await plans_app.events("clinic.plans.patient_registered.v1", key=patient["id"])
    changes = await plans_app.events("clinic.plans.patient_updated.v1", key=patient["id"])
    assert registered[0]["phone"] == "+33611223344"
    assert [c["sms_consent"] for c in changes] == [False]

    response = await plans_app.client.get(f"/v1/patients/{patient['id']}")
    assert response.json()["notes"] == "x"


async def test_patients_are_searched_by_name_or_phone_a_page_at_a_time(plans_app: PlansApp) -> None:
    for i, name in enumerate(["Anna Petit", "Paul Petitjean", "Zoé Garnier"]):
        await new_patient(plans_app, full_name=name, phone=f"+3361122330{i}")
    response = await plans_app.client.get("/v1/patients", params={"q": "petit", "limit": 1})
    assert response.headers["X-Total-Count"] == "2"
    assert [p["full_name"] for p in response.json()] == ["Anna Petit"]
    response = await plans_app.client.get("/v1/patients", params={"q": "petit", "offset": 1})
    assert [p["full_name"] for p in response.json()] == ["Paul Petitjean"]
    response = await plans_app.client.get("/v1/patients", params={"q": "06 11 22 33 02"[1:]})
    assert [p["full_name"] for p in response.json()] == ["Zoé Garnier"]
    response = await plans_app.client.get("/v1/patients", params={"q": "100%_"})
    assert response.json() == []
    assert_problem(await plans_app.client.get("/v1/patients", params={"limit": 0}), 422, "limit")


async def test_erasing_a_patient_cancels_their_plans_and_forgets_their_contact_data(
    plans_app: PlansApp,
) -> None:
    patient = await new_patient(plans_app)
    plan = await active_plan(plans_app, patient)
    desk = plans_app.headers(Role.STAFF)
    response = await plans_app.client.delete(f"/v1/patients/{patient['id']}", headers=desk)
    assert_problem(response, 403, "admin")

    response = await plans_app.client.delete(f"/v1/patients/{patient['id']}")
    assert response.status_code == 204, response.text
    assert_problem(await plans_app.client.get(f"/v1/patients/{patient['id']}"), 410, "erased")
    plan = (await plans_app.client.get(f"/v1/plans/{plan['id']}")).json()
    assert plan["status"] == "cancelled"
    assert {s["status"] for s in plan["sessions"]} == {"cancelled"}
    assert await plans_app.events("clinic.plans.patient_registered.v1", key=patient["id"]) == []
    [erased] = await plans_app.events("clinic.plans.patient_erased.v1", key=patient["id"])
    assert erased == {"type": "clinic.plans.patient_erased.v1", "patient_id": patient["id"]}
    [cancelled] = await plans_app.events("clinic.plans.plan_cancelled.v1", key=patient["id"])
    assert cancelled["reason"] == "patient erased"
    search = await plans_app.client.get("/v1/patients", params={"q": "Léa"})
    assert search.json() == []


async def test_a_retried_registration_with_the_same_idempotency_key_registers_once(
    plans_app: PlansApp,
) -> None:
    headers = {"Idempotency-Key": "intake-42"}
    first = await plans_app.client.post("/v1/patients", json=PATIENT, headers=headers)
    again = await plans_app.client.post("/v1/patients", json=PATIENT, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = {**PATIENT, "full_name": "Someone Else"}
    response = await plans_app.client.post("/v1/patients", json=other, headers=headers)
    assert_problem(response, 422, "different request body")


async def test_protocols_are_versioned_and_a_plan_keeps_the_version_it_started_on(
    plans_app: PlansApp,
) -> None:
    response = await plans_app.client.get("/v1/protocols")
    assert response.headers["X-Total-Count"] == "6"
    keys = {p["key"] for p in response.json()}
    assert keys == {"cellulite", "weight-loss", "hair-regrowth", "face-neck", "body-sculpting",
                    "medical"}  # fmt: skip
    cellulite = await protocol_id(plans_app, "cellulite")
    patient = await new_patient(plans_app)
    plan = await active_plan(plans_app, patient, key="cellulite")

    response = await plans_app.client.post(
        f"/v1/protocols/{cellulite}/versions", json={"session_count": 8, "maintenance_sessions": 2,
                                                     "maintenance_interval_days": 30},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    v2 = response.json()
    assert (v2["key"], v2["version"], v2["session_count"]) == ("cellulite", 2, 8)
    assert (await plans_app.client.get(f"/v1/plans/{plan['id']}")).json()["protocol"][
        "version"
    ] == 1

    latest = await plans_app.client.get(
        "/v1/protocols", params={"key": "cellulite", "latest_only": True}
    )
    assert [p["version"] for p in latest.json()] == [2]
    assert (await plans_app.client.delete(f"/v1/protocols/{cellulite}")).status_code == 204
    response = await plans_app.client.post(
        "/v1/plans",
        json={"patient_id": patient["id"], "protocol_id": cellulite, "areas": ["thighs"],
              "start_date": TOMORROW},
    )  # fmt: skip
    assert_problem(response, 422, "retired")
    draft = await plans_app.client.post(
        "/v1/plans",
        json={"patient_id": patient["id"], "protocol_id": v2["id"], "areas": ["thighs"],
              "start_date": TOMORROW},
    )  # fmt: skip
    activated = await plans_app.client.post(f"/v1/plans/{draft.json()['id']}/activate")
    sessions = activated.json()["sessions"]
    assert [s["kind"] for s in sessions] == ["cycle"] * 8 + ["maintenance"] * 2


async def test_a_protocol_that_cannot_make_a_cycle_is_refused_with_the_reason(
    plans_app: PlansApp,
) -> None:
    body = {"key": "scalp-intensive", "name": "Scalp intensive", "indication": "hair_regrowth",
            "areas": ["scalp"], "session_count": 6, "interval_days": 10, "tolerance_days": 2,
            "session_minutes": 30, "numbing_cream_advised": True}  # fmt: skip
    cases: list[tuple[dict[str, Any], str]] = [
        ({"session_count": 0}, "session_count"),
        ({"session_count": 31}, "session_count"),
        ({"tolerance_days": 5}, "less than half the interval"),
        ({"areas": ["elbows"]}, "areas"),
    ]
    for bad, words in cases:
        assert_problem(
            await plans_app.client.post("/v1/protocols", json={**body, **bad}), 422, words
        )
    practitioner = plans_app.headers(Role.PRACTITIONER)
    response = await plans_app.client.post("/v1/protocols", json=body, headers=practitioner)
    assert_problem(response, 403)
    assert (await plans_app.client.post("/v1/protocols", json=body)).status_code == 201
    assert_problem(await plans_app.client.post("/v1/protocols", json=body), 409, "versions")


async def test_a_flagged_patient_s_plan_waits_for_an_exact_acknowledgement_of_who_and_when(
    plans_app: PlansApp,
) -> None:
    patient = await new_patient(plans_app, allergies=["Lidocaine"], medications=["warfarin"])
    response = await plans_app.client.post(
        "/v1/plans",
        json={"patient_id": patient["id"], "protocol_id": await protocol_id(plans_app, "face-neck"),
              "areas": ["face"], "start_date": TOMORROW},
    )  # fmt: skip
    plan = response.json()
    assert plan["safety"]["flagged"]
    assert plan["safety"]["acknowledgement_required"]
    url = f"/v1/plans/{plan['id']}"
    assert_problem(await plans_app.client.post(f"{url}/activate"), 409, "acknowledge")

    wrong = {"allergies": ["latex"], "medications": ["warfarin"]}
    response = await plans_app.client.post(f"{url}/acknowledgement", json=wrong)
    assert_problem(response, 422, "lidocaine", "latex")
    practitioner = plans_app.headers(Role.PRACTITIONER, subject="dr.martin@clinic.example")
    right = {"allergies": ["lidocaine"], "medications": ["Warfarin"]}
    response = await plans_app.client.post(
        f"{url}/acknowledgement", json=right, headers=practitioner
    )
    safety = response.json()["safety"]
    assert safety["acknowledged_by"] == "dr.martin@clinic.example"
    assert safety["acknowledged_at"] is not None
    assert not safety["acknowledgement_required"]

    # The record changes: the acknowledgement no longer holds.
    await plans_app.client.patch(
        f"/v1/patients/{patient['id']}", json={"allergies": ["lidocaine", "latex"]}
    )
    assert_problem(await plans_app.client.post(f"{url}/activate"), 409, "changed since")
    right["allergies"].append("latex")
    await plans_app.client.post(f"{url}/acknowledgement", json=right)
    assert (await plans_app.client.post(f"{url}/activate")).status_code == 200
    response = await plans_app.client.post(f"{url}/acknowledgement", json=right)
    assert_problem(response, 409, "only a draft plan can be acknowledged")


async def test_a_plan_goes_draft_active_paused_active_cancelled_announcing_each_step(
    plans_app: PlansApp,
) -> None:
    patient = await new_patient(plans_app)
    plan = await active_plan(plans_app, patient, key="medical")
    url = f"/v1/plans/{plan['id']}"
    [cycle] = await plans_app.events("clinic.plans.cycle_scheduled.v1", key=patient["id"])
    assert [s["session_number"] for s in cycle["sessions"]] == [1, 2, 3, 4, 5]

    paused = (await plans_app.client.post(f"{url}/pause")).json()
    assert paused["status"] == "paused"
    assert {s["status"] for s in paused["sessions"]} == {"withdrawn"}
    [withdrawn] = await plans_app.events("clinic.plans.windows_withdrawn.v1", key=patient["id"])
    assert withdrawn["session_numbers"] == [1, 2, 3, 4, 5]
    assert_problem(await plans_app.client.post(f"{url}/pause"), 409, "only an active plan")

    plans_app.clock.advance(timedelta(days=20))
    resume_on = (NOW + timedelta(days=21)).date()
    assert_problem(
        await plans_app.client.post(f"{url}/resume", json={"resume_on": "2020-01-01"}), 422, "past"
    )
    resumed = (
        await plans_app.client.post(f"{url}/resume", json={"resume_on": resume_on.isoformat()})
    ).json()
    assert resumed["status"] == "active"
    assert resumed["sessions"][0]["target_date"] == resume_on.isoformat()
    assert resumed["sessions"][1]["target_date"] == (resume_on + timedelta(days=7)).isoformat()
    [changed] = await plans_app.events("clinic.plans.windows_changed.v1", key=patient["id"])
    assert (changed["reason"], len(changed["sessions"])) == ("resumed", 5)

    cancelled = (
        await plans_app.client.post(f"{url}/cancel", json={"reason": "moved abroad"})
    ).json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "moved abroad")
    assert cancelled["ended_at"] is not None
    assert_problem(await plans_app.client.post(f"{url}/activate"), 409, "plan is cancelled")
    assert_problem(await plans_app.client.post(f"{url}/cancel"), 409, "plan is cancelled")
    assert len(await plans_app.events("clinic.plans.plan_cancelled.v1", key=patient["id"])) == 1


async def test_a_draft_can_be_changed_or_deleted_but_not_once_active(plans_app: PlansApp) -> None:
    patient = await new_patient(plans_app)
    response = await plans_app.client.post(
        "/v1/plans",
        json={"patient_id": patient["id"], "protocol_id": await protocol_id(plans_app, "face-neck"),
              "areas": ["face"], "start_date": TOMORROW},
    )  # fmt: skip
    url = f"/v1/plans/{response.json()['id']}"
    response = await plans_app.client.patch(url, json={"areas": ["face", "neck"]})
    assert response.json()["areas"] == ["face", "neck"]
    assert_problem(
        await plans_app.client.patch(url, json={"areas": ["scalp"]}), 422, "does not treat scalp"
    )
    assert_problem(
        await plans_app.client.patch(url, json={"start_date": "2020-01-01"}), 422, "past"
    )
    assert (await plans_app.client.delete(url)).status_code == 204
    assert_problem(await plans_app.client.get(url), 404, "no plan")

    plan = await active_plan(plans_app, patient)
    url = f"/v1/plans/{plan['id']}"
    assert_problem(await plans_app.client.patch(url, json={"areas": ["neck"]}), 409, "only a draft")
    assert_problem(await plans_app.client.delete(url), 409, "only a draft plan can be deleted")


async def test_bad_plan_input_gets_a_4xx_naming_the_problem(plans_app: PlansApp) -> None:
    patient = await new_patient(plans_app)
    plan = {"patient_id": patient["id"], "protocol_id": await protocol_id(plans_app, "face-neck"),
            "areas": ["face"], "start_date": TOMORROW}  # fmt: skip
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"protocol_id": patient["id"]}, 422, "unknown protocol"),
        ({"patient_id": plan["protocol_id"]}, 404, "no patient"),
        ({"areas": []}, 422, "areas"),
        ({"start_date": "2020-01-01"}, 422, "in the past"),
        ({"start_date": "next week"}, 422, "start_date"),
        ({"colour": "blue"}, 422, "colour"),
    ]
    for change, status, words in cases:
        assert_problem(
            await plans_app.client.post("/v1/plans", json={**plan, **change}), status, words
        )
    assert_problem(await plans_app.client.get("/v1/plans/not-a-uuid"), 422, "plan_id")
    bad_phone = {**PATIENT, "phone": "+331"}
    assert_problem(await plans_app.client.post("/v1/patients", json=bad_phone), 422, "phone")
    response = await plans_app.client.post(
        "/v1/patients", json={**PATIENT, "time_zone": "Mars/Base"}
    )
    assert_problem(response, 422, "time zone")
    response = await plans_app.client.patch(
        f"/v1/patients/{patient['id']}", json={"full_name": None}
    )
    assert_problem(response, 422, "full_name cannot be null")
    assert_problem(
        await plans_app.client.get("/v1/plans", params={"status": "sleeping"}), 422, "status"
    )


async def test_plans_are_listed_by_patient_and_status_with_a_total(plans_app: PlansApp) -> None:
    first, second = await new_patient(plans_app), await new_patient(plans_app, phone="+33611223399")
    await active_plan(plans_app, first)
    done = await active_plan(plans_app, first, key="medical")
    await plans_app.client.post(f"/v1/plans/{done['id']}/cancel")
    await active_plan(plans_app, second)
    response = await plans_app.client.get("/v1/plans", params={"patient_id": first["id"]})
    assert response.headers["X-Total-Count"] == "2"
    response = await plans_app.client.get(
        "/v1/plans",
        params=[("status", "active"), ("status", "paused"), ("patient_id", first["id"])],
    )
    assert [p["protocol"]["key"] for p in response.json()] == ["face-neck"]
    response = await plans_app.client.get(
        "/v1/plans", params={"protocol_key": "face-neck", "limit": 1}
    )
    assert (response.headers["X-Total-Count"], len(response.json())) == ("2", 1)
