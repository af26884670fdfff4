"""A protocol's minimum gap between sessions (issue #12): shown by the protocol API with
its default (interval - tolerance), validated with the reason, carried to booking in
CycleScheduled and WindowsChanged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.test_plans_api import assert_problem
from tests.utils.plans import (
    PlansApp,
    active_plan,
    new_patient,
    protocol_id,
    running_plans,
)


@pytest.fixture
async def plans_app(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[PlansApp]:
    async with running_plans(fresh_database, bootstrap_servers) as app:
        yield app


SCALP = {
    "key": "scalp-intensive", "name": "Scalp intensive", "indication": "hair_regrowth",
    "areas": ["scalp"], "session_count": 6, "interval_days": 10, "tolerance_days": 2,
    "session_minutes": 30, "numbing_cream_advised": True,
}  # fmt: skip


async def test_the_default_protocols_show_their_default_minimum_gap(plans_app: PlansApp) -> None:
    response = await plans_app.client.get("/v1/protocols")
    gaps = {p["key"]: (p["interval_days"], p["tolerance_days"], p["min_gap_days"])
            for p in response.json()}  # fmt: skip
    assert gaps["cellulite"] == (7, 2, 5)
    assert gaps["hair-regrowth"] == (14, 3, 11)
    assert all(gap == interval - tolerance for interval, tolerance, gap in gaps.values())


async def test_a_protocol_s_minimum_gap_defaults_is_shown_and_follows_new_versions(
    plans_app: PlansApp,
) -> None:
    created = await plans_app.client.post("/v1/protocols", json=SCALP)
    assert created.status_code == 201, created.text
    assert created.json()["min_gap_days"] == 8
    got = await plans_app.client.get(f"/v1/protocols/{created.json()['id']}")
    assert got.json()["min_gap_days"] == 8
    # A new version with another interval: the default gap follows it.
    url = f"/v1/protocols/{created.json()['id']}/versions"
    v2 = await plans_app.client.post(url, json={"interval_days": 12})
    assert v2.status_code == 201, v2.text
    assert v2.json()["min_gap_days"] == 10
    # An explicit gap is kept by later versions that do not change it.
    v3 = await plans_app.client.post(
        f"/v1/protocols/{v2.json()['id']}/versions", json={"min_gap_days": 12}
    )
    assert v3.status_code == 201, v3.text
    assert v3.json()["min_gap_days"] == 12
    v4 = await plans_app.client.post(
        f"/v1/protocols/{v3.json()['id']}/versions", json={"session_count": 8}
    )
    assert (v4.json()["version"], v4.json()["min_gap_days"]) == (4, 12)
    other = await plans_app.client.post(
        "/v1/protocols", json={**SCALP, "key": "scalp-gentle", "min_gap_days": 9}
    )
    assert other.status_code == 201, other.text
    assert other.json()["min_gap_days"] == 9


@pytest.mark.parametrize("bad", [0, -1, 11])
async def test_a_minimum_gap_outside_1_to_the_interval_is_a_422_with_the_reason(
    plans_app: PlansApp, bad: int
) -> None:
    response = await plans_app.client.post("/v1/protocols", json={**SCALP, "min_gap_days": bad})
    assert_problem(response, 422, "min_gap_days", "interval_days (10)", f"not {bad}")
    base = await protocol_id(plans_app, "cellulite")
    response = await plans_app.client.post(
        f"/v1/protocols/{base}/versions", json={"min_gap_days": bad if bad else 8}
    )
    assert_problem(response, 422, "min_gap_days")


async def test_the_gap_goes_to_booking_with_the_cycle(plans_app: PlansApp) -> None:
    patient = await new_patient(plans_app)
    await active_plan(plans_app, patient, key="cellulite")
    [scheduled] = await plans_app.events("clinic.plans.cycle_scheduled.v1", key=patient["id"])
    assert scheduled["min_gap_days"] == 5
    # (WindowsChanged carries it too: test_plans_replanning_flow's re-anchoring.)
