"""The whole system as real processes: broker, PostgreSQL, Twilio sandbox, three services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy.engine import make_url

from devstack.demo import seed
from devstack.stack import SERVICES, Stack, running_stack
from shared.db import drop_database
from tests.polling import eventually

T = TypeVar("T")


@pytest.fixture(scope="session")
def stack(
    workdir: Path, bootstrap_servers: str, database_server: str, run_id: str
) -> Iterator[Stack]:
    databases = {
        f"{name.upper()}_DATABASE_URL": make_url(database_server)
        .set(database=f"mc_e2e_{run_id}_{name}")
        .render_as_string(hide_password=False)
        for name in SERVICES
    }
    with running_stack(
        workdir / "stack",
        bootstrap_servers=bootstrap_servers,
        database_url=database_server,
        extra_env=databases,
    ) as running:
        yield running
    for url in databases.values():
        asyncio.run(drop_database(url))


@pytest.fixture(scope="session")
def clinic(stack: Stack, workdir: Path) -> dict[str, Any]:
    """The demo clinic `make dev` seeds: a location, practitioners, rooms, a patient."""
    return seed(stack, workdir / "seeded.json")


@pytest.fixture
async def staff(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client carrying an admin staff token."""
    headers = {"Authorization": f"Bearer {stack.staff_token()}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        yield client


__all__ = ["eventually"]  # the e2e tests import it from here
