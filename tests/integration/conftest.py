"""What notify's integration tests share: its migrated database (``sessions``), the
Twilio sandbox (``sandbox``) and the real twilio SDK pointed at it (``gateway``). A test
module may still define its own under the same name (a module's fixture wins)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.adapters.sms import TwilioGateway
from tests.utils import notify as harness
from twilio_sandbox import RunningSandbox


@pytest_asyncio.fixture
async def sessions(fresh_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async for made in harness.migrated_sessions(fresh_database):
        yield made


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async for running in harness.sandbox():
        yield running


@pytest_asyncio.fixture
async def gateway(fresh_database: str, sandbox: RunningSandbox) -> AsyncIterator[TwilioGateway]:
    async for made in harness.gateway_for(harness.settings_for(fresh_database, sandbox)):
        yield made
