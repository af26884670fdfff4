"""What notify's tests share: a migrated database, the Twilio sandbox, the real SDK,
patients and messages due. Used by test_notify_* (they drive notify's use cases and
workers directly; the webhooks' test runs the app on a socket, for the sandbox to call)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.adapters.db import Message
from notify.adapters.sms import TwilioGateway
from notify.app import service
from notify.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, NotifySettings
from notify.use_cases.scheduling import Clinic, keep_patient
from shared.contracts.plans import PatientRegistered
from shared.db import create_engine, session_factory
from tests.utils.harness import migrate
from twilio_sandbox import RunningSandbox, SandboxConfig, running_sandbox

CLINIC = Clinic(name="Mesocycle Paris", time_zone="Europe/Paris")


async def migrated_sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate(service, url)
    engine = create_engine(url, pool_size=20)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        account_sid=SANDBOX_ACCOUNT_SID, auth_token=SANDBOX_AUTH_TOKEN, delivery_delay_seconds=0.05
    )


async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(sandbox_config()) as started:
        yield started


def settings_for(url: str, sandbox: RunningSandbox, **overrides: object) -> NotifySettings:
    """Settings for notify's parts run without its app: its database, the sandbox."""
    return NotifySettings(
        database_url=url,
        twilio_api_base_url=sandbox.url,
        **overrides,  # type: ignore[arg-type]
    )


async def gateway_for(settings: NotifySettings) -> AsyncIterator[TwilioGateway]:
    gateway = TwilioGateway(settings)
    try:
        yield gateway
    finally:
        await gateway.close()


async def register(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    phone: str = "+33612345678",
    needle_sensitive: bool = True,
    language: str = "en",
    time_zone: str = "Europe/Paris",
) -> uuid.UUID:
    patient_id = uuid.uuid4()
    contact = PatientRegistered(
        patient_id=patient_id, full_name="Léa Martin", phone=phone, time_zone=time_zone,
        language=language, sms_consent=True, needle_sensitive=needle_sensitive,
    )  # fmt: skip
    async with sessions.begin() as session:
        await keep_patient(session, contact=contact, clinic=CLINIC, now=now)
    return patient_id


def due_message(patient_id: uuid.UUID, body: str, *, due_at: datetime, **values: object) -> Message:
    columns: dict[str, object] = dict(
        id=uuid.uuid4(), patient_id=patient_id, appointment_id=None, appointment_version=None,
        kind="reminder_24h", body=body, due_at=due_at, expires_at=due_at + timedelta(days=1),
        status="pending", attempts=0, carries=[], created_at=due_at, updated_at=due_at,
    )  # fmt: skip
    return Message(**(columns | values))


async def reload(sessions: async_sessionmaker[AsyncSession], message: Message) -> Message:
    """``message`` as the database holds it now."""
    async with sessions() as session:
        found = await session.get(Message, message.id)
    assert found is not None
    return found
