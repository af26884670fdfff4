"""The whole system as real processes: broker, PostgreSQL, Twilio sandbox, three services."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devstack.demo import seed
from devstack.stack import SERVICES, Stack, running_stack, service_databases
from shared.contracts.booking import BookingInvitationIssued
from shared.events import Event
from tests.clock import TEST_NOW, StaffAuth
from tests.kafka_records import Record, consumed_past, find_records, headers_of
from tests.polling import eventually

T = TypeVar("T")
PARIS = ZoneInfo("Europe/Paris")


@contextlib.contextmanager
def isolated_stack(
    workdir: Path,
    bootstrap_servers: str,
    database_server: str,
    label: str,
    *,
    env: Mapping[str, str] | None = None,
    replicas: int = 1,
) -> Iterator[Stack]:
    """A stack of the tests' own on the run's broker and server: databases, topics and
    consumer groups named after ``label`` (no other stack sees its events), its clock
    pinned at ``TEST_NOW``."""
    with (
        service_databases(database_server, label) as databases,
        running_stack(
            workdir / f"{label}-stack",
            bootstrap_servers=bootstrap_servers,
            database_url=database_server,
            extra_env={
                **databases,
                "KAFKA_TOPIC_PREFIX": f"{label}.",
                "KAFKA_GROUP_SUFFIX": f"-{label}",
                **(env or {}),
            },
            pinned_at=TEST_NOW,
            replicas=replicas,
        ) as stack,
    ):
        yield stack


@pytest.fixture(scope="session")
def stack(
    workdir: Path, bootstrap_servers: str, database_server: str, run_id: str
) -> Iterator[Stack]:
    with isolated_stack(workdir, bootstrap_servers, database_server, f"e2e_{run_id}") as running:
        yield running


@pytest.fixture(scope="session")
def clinic(stack: Stack, workdir: Path) -> dict[str, Any]:
    """The demo clinic `make dev` seeds: a location, practitioners, rooms, a patient."""
    return seed(stack, workdir / "seeded.json")


@pytest.fixture
async def staff(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signing each request with an admin token minted on the stack's clock."""
    async with staff_client(stack) as client:
        yield client


def paris_today(stack: Stack) -> date:
    """Today at the demo clinic (Paris), by the stack's clock."""
    return stack.clock.now().astimezone(PARIS).date()


def staff_client(stack: Stack) -> httpx.AsyncClient:
    """A client for the whole module: it drops an idle connection well before uvicorn's
    5 s keep-alive closes it, so no request goes out on a socket the server is closing
    (a ReadError under load when both sides use 5 s)."""
    return httpx.AsyncClient(
        auth=StaffAuth(stack.env["JWT_SECRET"], stack.clock),
        timeout=10,
        limits=httpx.Limits(keepalive_expiry=2),
    )


async def publish(
    stack: Stack,
    topic: str,
    value: bytes,
    *,
    key: bytes,
    headers: Sequence[tuple[str, bytes]] = (),
) -> RecordMetadata:
    """Write one record to ``topic`` of the stack's broker, as a producer of ours would."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        written: RecordMetadata = await producer.send_and_wait(
            stack.topic(topic), value, key=key, headers=list(headers)
        )
        return written
    finally:
        await producer.stop()


async def publish_event(stack: Stack, event: Event[Any]) -> RecordMetadata:
    return await publish(
        stack, event.topic, event.kafka_value(), key=event.key.encode(),
        headers=event.kafka_headers(),
    )  # fmt: skip


async def invitation_link(stack: Stack, patient_id: str) -> str:
    """The self-booking link booking issued the patient (the URL their SMS carries)."""

    def issued(record: Record) -> bool:
        payload = json.loads(record.value or b"{}")
        return bool(
            headers_of(record).get("ce_type") == BookingInvitationIssued.type
            and payload["patient_id"] == patient_id
        )

    [record] = await find_records(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"], stack.topic("booking.events"), issued,
        within=30, what=f"the booking link of {patient_id}",
    )  # fmt: skip
    link: str = json.loads(record.value or b"{}")["link_url"]
    return link


async def applied_by(stack: Stack, service: str, written: RecordMetadata) -> None:
    """Wait until ``service``'s consumers have applied the record ``written``."""
    await consumed_past(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        service + stack.env.get("KAFKA_GROUP_SUFFIX", ""),
        TopicPartition(written.topic, written.partition),
        written.offset,
    )


def database(stack: Stack, service: str) -> AsyncEngine:
    """An engine on ``service``'s database in ``stack`` (dispose of it after)."""
    url = make_url(stack.env[f"{service.upper()}_DATABASE_URL"])
    return create_async_engine(url.set(drivername="postgresql+asyncpg"))


async def outboxes_drained(stack: Stack) -> None:
    """Wait until every service of ``stack`` has published all its events."""
    for service in SERVICES:
        engine = database(stack, service)
        try:

            async def drained(engine: AsyncEngine = engine) -> bool:
                async with engine.connect() as connection:
                    left = await connection.scalar(
                        sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    )
                return bool(left == 0)

            await eventually(drained, what=f"{service}'s outbox to drain")
        finally:
            await engine.dispose()


__all__ = ["eventually"]  # the e2e tests import it from here
