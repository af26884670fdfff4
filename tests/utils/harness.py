"""One service in-process, its real lifespan, against a fresh PostgreSQL and the real broker.

Tests drive it over HTTP (httpx's ASGI transport, signed as staff), read what it staged
in its outbox, and feed it other services' events through its own handlers or the
broker; time is a ManualClock the test moves. The same for plans, booking and notify.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from shared.auth import Role
from shared.clock import Clock, ManualClock
from shared.events import Payload, new_event
from shared.migrate import upgrade
from shared.service import Runtime, Service
from shared.settings import DEV_JWT_SECRET, ServiceSettings
from tests.clock import StaffAuth

S = TypeVar("S", bound=ServiceSettings)

#: Where the events a test makes up say they come from.
SOURCE = "/tests"
#: Who the staff tokens are for, unless a test names someone.
SUBJECT = "desk@clinic.example"


class ServiceFactory(Protocol[S]):
    """A service module's ``service(settings, clock)``: ``plans.app.service`` and the like."""

    def __call__(self, settings: S | None = None, clock: Clock | None = None) -> Service[S]: ...


@dataclass
class ServiceUnderTest(Generic[S]):
    """A running service and what a test reaches it by."""

    service: Service[S]
    client: httpx.AsyncClient
    runtime: Runtime[S]
    clock: ManualClock
    settings: S

    def token(
        self, role: Role = Role.ADMIN, practitioner_id: str | None = None, *, subject: str = SUBJECT
    ) -> str:
        """A staff token fresh on the service's clock (the client signs as admin)."""
        return StaffAuth(
            DEV_JWT_SECRET, self.clock, role, subject=subject, practitioner_id=practitioner_id
        ).token()

    def headers(
        self, role: Role = Role.ADMIN, practitioner_id: str | None = None, *, subject: str = SUBJECT
    ) -> dict[str, str]:
        """Headers that make one request as ``role`` instead of the client's admin."""
        return {"Authorization": f"Bearer {self.token(role, practitioner_id, subject=subject)}"}

    async def events(
        self, type_suffix: str = "", *, key: str | None = None
    ) -> list[dict[str, Any]]:
        """The service's outbox (events committed with their state change), oldest first:
        type and payload of each whose type ends with ``type_suffix`` (and has ``key``)."""
        outbox = self.service.spec.outbox
        query = sa.select(outbox.c.type, outbox.c.data).order_by(outbox.c.id)
        if key is not None:
            query = query.where(outbox.c.key == key)
        async with self.runtime.sessions() as session:
            rows = await session.execute(query)
        return [{"type": t, **d} for t, d in rows if t.endswith(type_suffix)]

    async def apply(self, payload: Payload) -> None:
        """Another service's event, applied through this service's own handler for it (in
        one transaction, as its consumer does)."""
        handler = self.service.spec.handlers(self.runtime)[type(payload)]
        key = str(getattr(payload, "patient_id", ""))
        event = new_event(payload, source=SOURCE, key=key, now=self.clock.now())
        async with self.runtime.sessions.begin() as session:
            await handler(session, event)

    async def publish(self, payload: Payload, *, key: str) -> None:
        """Put an event on the broker as the service that owns it would: this service's
        consumer takes it from there."""
        event = new_event(payload, source=SOURCE, key=key, now=self.clock.now())
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                self.settings.topic(event.topic), event.kafka_value(), key=event.key.encode(),
                headers=event.kafka_headers(),
            )  # fmt: skip
        finally:
            await producer.stop()


async def migrate(service_factory: ServiceFactory[Any], database_url: str) -> None:
    """Bring a fresh database to the service's schema."""
    await upgrade(service_factory().spec.migrations, database_url)


def settings_for(
    service_factory: ServiceFactory[S], database_url: str, bootstrap_servers: str, **overrides: Any
) -> S:
    """The service's settings for a test: its database, the shared broker with a consumer
    group of its own (other tests use the same broker), the dev secret."""
    settings_type = type(service_factory().settings)
    return settings_type.model_validate(
        {
            "database_url": database_url,
            "kafka_bootstrap_servers": bootstrap_servers,
            "kafka_group_suffix": f"-test-{uuid.uuid4().hex[:8]}",
            "environment": "test",
            "jwt_secret": DEV_JWT_SECRET,
            **overrides,
        }
    )


@asynccontextmanager
async def running(
    service_factory: ServiceFactory[S],
    database_url: str,
    bootstrap_servers: str,
    *,
    start: datetime,
    workers: Collection[str] | None = (),
    **settings_overrides: Any,
) -> AsyncIterator[ServiceUnderTest[S]]:
    """Migrate a fresh database and run the service's app in-process with ``workers``
    (None: all of them, as ``serve`` does), its clock stopped at ``start``."""
    await migrate(service_factory, database_url)
    settings = settings_for(service_factory, database_url, bootstrap_servers, **settings_overrides)
    clock = ManualClock(start)
    service = service_factory(settings, clock)
    app = service.app(workers=workers)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"http://{settings.service}",
            auth=StaffAuth(DEV_JWT_SECRET, clock),
        ) as client,
    ):
        yield ServiceUnderTest(service, client, app.state.runtime, clock, settings)
