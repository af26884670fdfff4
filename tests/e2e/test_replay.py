"""Replaying every outbox into the running system changes nothing.

``python -m <service> outbox replay`` is what an operator runs after a broker lost its log
or a database came back from a backup; it must be safe to overdo: every event again,
every consumer skips what it has applied, no row appears or goes, no SMS goes twice.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, time, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from devstack.stack import SERVICES, Stack
from shared.events import TOPICS
from tests.e2e.conftest import PARIS, database, eventually, outboxes_drained, paris_today
from tests.e2e.sms import sandbox_messages, sent_sms
from tests.e2e.test_patient_replies import own_practitioner_and_room
from tests.e2e.test_plan_to_sms import new_patient, open_requests


async def test_replaying_every_outbox_into_the_running_system_changes_nothing(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    # Something of everything: a patient, an active plan, a booked session, its SMS.
    patient = await new_patient(staff, stack, "+33699887766")
    practitioner, room = await own_practitioner_and_room(staff, stack, clinic)
    start = paris_today(stack) + timedelta(days=2)
    plan = await staff.post(f"{stack.urls['plans']}/v1/plans", json={
        "patient_id": patient["id"], "protocol_id": clinic["protocol_ids"]["medical"],
        "areas": ["back"], "start_date": start.isoformat(),
    })  # fmt: skip
    await staff.post(f"{stack.urls['plans']}/v1/plans/{plan.json()['id']}/activate")
    [first, *_] = await open_requests(staff, stack, patient["id"], count=5)
    booked = await staff.post(f"{stack.urls['booking']}/v1/appointments", json={
        "booking_request_id": first["id"], "practitioner_id": practitioner, "room_id": room,
        "starts_at": datetime.combine(start, time(9), PARIS).isoformat(),
    })  # fmt: skip
    assert booked.status_code == 201, booked.text
    await sent_sms(stack, staff, patient_id=patient["id"], kind="confirmation",
                   appointment_id=booked.json()["id"])  # fmt: skip

    await _settled(stack)
    before = await _rows(stack), len(await sandbox_messages(stack))
    for service in SERVICES:
        replayed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", service, "outbox", "replay", "--since", "2000-01-01T00:00Z"],
            env=stack.env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        assert " 0 events" not in replayed.stdout, replayed.stdout  # each had events to replay
    await _settled(stack)
    after = await _rows(stack), len(await sandbox_messages(stack))
    assert after == before


async def _rows(stack: Stack) -> dict[str, int]:
    """How many rows each table of each service's database holds."""
    counts: dict[str, int] = {}
    for service in SERVICES:
        engine = database(stack, service)
        try:
            async with engine.connect() as connection:
                tables = await connection.scalars(sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version'"
                ))  # fmt: skip
                for table in list(tables):
                    quoted = '"' + table.replace('"', '""') + '"'
                    count = await connection.scalar(sa.text(f"SELECT count(*) FROM {quoted}"))  # noqa: S608
                    counts[f"{service}.{table}"] = int(count or 0)
        finally:
            await engine.dispose()
    return counts


#: Partitions of every topic (the services' KAFKA_TOPIC_PARTITIONS default).
PARTITIONS = 3


async def _settled(stack: Stack) -> None:
    """Every event published and consumed, until applying them publishes nothing more."""
    servers = stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    partitions = [
        TopicPartition(stack.topic(topic), p)
        for topic in TOPICS.values()
        for p in range(PARTITIONS)
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    ends = AIOKafkaConsumer(bootstrap_servers=servers)
    await admin.start()
    await ends.start()
    try:
        seen: dict[TopicPartition, int] = {}
        while True:
            await outboxes_drained(stack)
            end = await ends.end_offsets(partitions)
            if end == seen:
                return
            seen = end
            for service in SERVICES:
                group = service + stack.env.get("KAFKA_GROUP_SUFFIX", "")

                async def caught_up(
                    group: str = group, end: dict[TopicPartition, int] = end
                ) -> bool:
                    committed = await admin.list_consumer_group_offsets(group)
                    return all(
                        position.offset >= end[partition]
                        for partition, position in committed.items()
                        if partition in end
                    )

                await eventually(caught_up, what=f"{group} to consume everything published")
    finally:
        await ends.stop()
        await admin.close()


async def test_patients_resync_gives_booking_and_notify_back_a_patient_they_lost(
    stack: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    """booking and notify came back from a backup older than a patient: resync them."""
    patient = await new_patient(staff, stack, "+33699001122")
    await _settled(stack)
    for service in ("booking", "notify"):
        engine = database(stack, service)
        try:
            async with engine.begin() as connection:
                gone = await connection.execute(
                    sa.text("DELETE FROM patient WHERE id = :id"), {"id": patient["id"]}
                )
                assert gone.rowcount == 1
        finally:
            await engine.dispose()

    resynced = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "plans", "patients", "resync", "--patient-id", patient["id"]],
        env=stack.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "1 patients announced again" in resynced.stdout
    await _settled(stack)
    kept = {"booking": "full_name", "notify": "full_name, phone, language"}
    for service, columns in kept.items():
        engine = database(stack, service)
        try:
            async with engine.connect() as connection:
                copy = (
                    await connection.execute(
                        sa.text(f"SELECT {columns} FROM patient WHERE id = :id"),  # noqa: S608
                        {"id": patient["id"]},
                    )
                ).one()
        finally:
            await engine.dispose()
        expected = [patient[column] for column in columns.split(", ")]
        assert list(copy) == expected, service
