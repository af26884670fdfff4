"""``make dev`` keeps what it was told: a patient registered just before Ctrl-C is known to
every service after the restart, and their next confirmation goes out in their language.

It runs ``python -m devstack`` itself (its own broker, PostgreSQL and data directory, on
free ports), on a clock pinned at ``TEST_NOW``: on Apache Kafka, which keeps its log, and
on Tansu, the fallback without Java or Maven, which forgets it, so make dev publishes
every service's outbox again at the restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from shared.clock import ShiftableClock
from shared.settings import DEV_JWT_SECRET
from tests.clock import TEST_NOW, StaffAuth
from tests.e2e.conftest import PARIS, eventually, paris_today
from tests.e2e.sms import sent_sms

#: What the devstack must not take from the test run: it starts its own of each.
OWN = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "CLOCK_FILE", "KAFKA_TOPIC_PREFIX")


def start_devstack(workdir: Path, broker: str) -> tuple[subprocess.Popen[bytes], Stack]:
    env = {k: v for k, v in os.environ.items() if k not in OWN} | {"MESOCYCLE_BROKER": broker}
    log = open(workdir / "devstack.out", "ab")  # noqa: SIM115 - the process writes it
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "run", "--workdir", str(workdir), "--free-ports"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    described = workdir / "stack.json"
    deadline = monotonic() + 120
    while not described.exists():
        if process.poll() is not None or monotonic() > deadline:
            process.kill()
            pytest.fail(f"make dev did not come up: see {workdir / 'devstack.out'}")
        sleep(0.2)
    urls = json.loads(described.read_text())["urls"]
    stack = Stack(urls=urls, env={"CLOCK_FILE": str(workdir / "clock")}, logs=workdir / "logs")
    return process, stack


def stop_devstack(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # Ctrl-C
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("make dev did not stop within 60 s of Ctrl-C")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    ShiftableClock(tmp_path / "clock").pin(TEST_NOW)
    return tmp_path


@pytest.mark.parametrize("broker", ["kafka", "tansu"])
async def test_a_patient_registered_just_before_ctrl_c_is_known_everywhere_after_restart(
    workdir: Path, broker: str
) -> None:
    process, stack = start_devstack(workdir, broker)
    try:
        async with httpx.AsyncClient(
            auth=StaffAuth(DEV_JWT_SECRET, stack.clock), timeout=10
        ) as staff:
            created = await staff.post(f"{stack.urls['plans']}/v1/patients", json={
                "full_name": "Margaux Restart", "phone": "+33611999888",
                "time_zone": "Europe/Paris", "language": "fr", "sms_consent": True,
                "needle_sensitive": False,
            })  # fmt: skip
            stop_devstack(process)  # within milliseconds of the answer
    finally:
        if process.poll() is None:
            process.kill()
    assert created.status_code == 201, created.text
    patient = created.json()

    process, stack = start_devstack(workdir, broker)
    try:
        clinic: dict[str, Any] = json.loads((workdir / "seeded.json").read_text())
        async with httpx.AsyncClient(
            auth=StaffAuth(DEV_JWT_SECRET, stack.clock), timeout=10
        ) as staff:
            await _book_session_one(stack, staff, clinic, patient["id"])
    finally:
        stop_devstack(process)


async def _book_session_one(
    stack: Stack, staff: httpx.AsyncClient, clinic: dict[str, Any], patient_id: str
) -> None:
    start = paris_today(stack) + timedelta(days=2)
    plan = await staff.post(f"{stack.urls['plans']}/v1/plans", json={
        "patient_id": patient_id, "protocol_id": clinic["protocol_ids"]["medical"],
        "areas": ["back"], "start_date": start.isoformat(),
    })  # fmt: skip
    assert plan.status_code == 201, plan.text
    activated = await staff.post(f"{stack.urls['plans']}/v1/plans/{plan.json()['id']}/activate")
    assert activated.status_code == 200, activated.text

    async def first_request() -> dict[str, Any] | None:
        found = await staff.get(
            f"{stack.urls['booking']}/v1/booking-requests", params={"patient_id": patient_id}
        )
        return next((r for r in found.json() if r["session_number"] == 1), None)

    request = await eventually(first_request, within=10, what="booking's requests")
    starts_at = datetime.combine(start, time(11), PARIS)
    booked = await staff.post(f"{stack.urls['booking']}/v1/appointments", json={
        "booking_request_id": request["id"], "practitioner_id": clinic["practitioner_ids"][0],
        "room_id": clinic["room_ids"][0], "starts_at": starts_at.isoformat(),
    })  # fmt: skip
    assert booked.status_code == 201, booked.text
    # booking knows the patient: the day's schedule names them.
    day = await staff.get(
        f"{stack.urls['booking']}/v1/schedule",
        params={"day": start.isoformat(), "location_id": clinic["location_id"]},
    )
    names = [line.get("patient_name") for line in day.json()]
    assert "Margaux Restart" in names, day.json()
    # notify knows them: the confirmation goes to their phone, in French.
    sms = await sent_sms(stack, staff, patient_id=patient_id, kind="confirmation",
                         appointment_id=booked.json()["id"], within=10)  # fmt: skip
    assert sms.sent["to"] == "+33611999888"
    assert "séance 1 sur 5" in sms.body
