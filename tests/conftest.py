"""Fixtures for the real components: a Kafka-protocol broker and PostgreSQL.

Both are started here unless the environment names them (KAFKA_BOOTSTRAP_SERVERS,
DATABASE_URL); nothing is mocked and nothing is skipped: a component that cannot
be had fails the run, saying what is missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from devstack.infra import kafka_broker, postgres_server
from devstack.kafka import kafka_version
from shared.db import create_database_if_missing, drop_database


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mesocycle")


#: What this run's tests ran against, said at the end of the run.
RAN_ON: dict[str, str] = {}


@pytest.fixture(scope="session")
def bootstrap_servers(workdir: Path) -> Iterator[str]:
    """A running Apache Kafka (one KRaft node) unless KAFKA_BOOTSTRAP_SERVERS is set."""
    with kafka_broker(workdir / "broker.log") as servers:
        if "KAFKA_BOOTSTRAP_SERVERS" in os.environ:
            RAN_ON["broker"] = f"the broker at KAFKA_BOOTSTRAP_SERVERS={servers}"
        elif os.environ.get("MESOCYCLE_BROKER") == "tansu":
            RAN_ON["broker"] = f"Tansu (MESOCYCLE_BROKER=tansu) at {servers}"
        else:
            RAN_ON["broker"] = f"Apache Kafka {kafka_version()} (KRaft) at {servers}"
        yield servers


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for part, what in RAN_ON.items():
        terminalreporter.write_line(f"{part}: {what}")


@pytest.fixture(scope="session")
def database_server(workdir: Path) -> Iterator[str]:
    """A PostgreSQL server (embedded unless DATABASE_URL is set)."""
    with postgres_server(workdir / "postgres") as url:
        yield url


@pytest.fixture(scope="session")
def run_id() -> str:
    """Names this run's databases and consumer groups apart from any other's."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def fresh_database(database_server: str, run_id: str) -> AsyncIterator[str]:
    """An empty database of its own for one test (asyncpg URL), dropped afterwards."""
    name = f"mc_test_{run_id}_{uuid.uuid4().hex[:6]}"
    url = (
        make_url(database_server)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )
    await create_database_if_missing(url)
    yield url
    await drop_database(url)
