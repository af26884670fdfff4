"""A consumer that stops making progress shows: lag in /metrics, and /readyz naming it.

booking's API runs alone (as in production, its consumers in other processes); its
consumer group falls behind while no consumer runs, /readyz goes red within
CONSUMER_STALL_SECONDS saying which group and partition, and green again once a consumer
catches up.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from booking.app import service
from booking.settings import BookingSettings
from shared.contracts.plans import PatientRegistered
from shared.events import new_event
from tests.clock import TEST_NOW
from tests.polling import eventually
from tests.utils.booking import SETTINGS
from tests.utils.harness import migrate, settings_for


@contextlib.asynccontextmanager
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://booking") as client:
            yield client


async def test_a_stalled_consumer_group_turns_readyz_red_naming_it_then_green(
    fresh_database: str, bootstrap_servers: str
) -> None:
    await migrate(service, fresh_database)
    label = uuid.uuid4().hex[:8]
    settings: BookingSettings = settings_for(
        service, fresh_database, bootstrap_servers, **SETTINGS,
        kafka_topic_prefix=f"stall-{label}.", consumer_stall_seconds=1.0,
    )  # fmt: skip
    group = settings.consumer_group
    async with api(service(settings).app(workers=[])) as client:
        assert (await client.get("/readyz")).status_code == 200
        await _publish(settings, 5)

        async def red() -> dict[str, Any] | None:
            answer = await client.get("/readyz")
            return answer.json() if answer.status_code == 503 else None

        report = await eventually(red, what="/readyz to report the stalled group")
        assert report["checks"]["database"] == report["checks"]["broker"] == "ok"
        assert (
            f"consumer group {group} has not moved on stall-{label}.plans.events"
            in (report["checks"]["consumers"])
        )
        metrics = (await client.get("/metrics")).text
        assert f'consumer_lag{{group="{group}",partition="stall-{label}.plans.events[' in metrics

        # A consumer process of booking starts (or resumes): it catches up, all green.
        async with api(service(settings).app(workers=["consume"])):

            async def green() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(green, what="/readyz green once the consumer caught up")


async def _publish(settings: BookingSettings, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for n in range(count):
            patient = uuid.uuid4()
            event = new_event(
                PatientRegistered(
                    patient_id=patient, full_name=f"Patient {n}", phone="+33611223344",
                    time_zone="Europe/Paris", language="fr", sms_consent=True,
                    needle_sensitive=False,
                ),
                source="/tests", key=str(patient), now=TEST_NOW,
            )  # fmt: skip
            await producer.send_and_wait(
                settings.topic(event.topic), event.kafka_value(), key=event.key.encode(),
                headers=event.kafka_headers(),
            )  # fmt: skip
    finally:
        await producer.stop()
