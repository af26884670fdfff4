"""The three services, the Twilio sandbox, a broker and a database, as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from devstack.infra import kafka_broker, postgres_server
from devstack.ports import free_port
from shared.auth import Role, issue_staff_token
from shared.clock import ShiftableClock
from shared.db import drop_database
from shared.settings import DEV_JWT_SECRET
from twilio_sandbox.config import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN

SERVICES = ("plans", "booking", "notify")
DEV_PORTS = {"plans": 8001, "booking": 8002, "notify": 8003, "sandbox": 8099}


@dataclass
class Stack:
    """A running system: where each part answers, and a staff token to call it with.

    Its processes have names: ``sandbox``, each service (``booking``), its further
    replicas (``booking-2``) and, when the workers run apart, each worker
    (``booking.consume``); ``urls`` has one for each (a worker's is its health port).
    """

    urls: dict[str, str]
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    def replicas(self, service: str) -> list[str]:
        """The names of the processes that run ``service``, the first one first."""
        return [name for name in self.commands if name.partition("-")[0] == service]

    def processes_of(self, service: str) -> list[str]:
        """The names of every process running a part of ``service`` (APIs and workers)."""
        return [name for name in self.commands if _service_of(name) == service]

    def start(self, *names: str) -> None:
        """Start the named processes (again) and wait until they are ready."""
        for name in names:
            log = self.logs / f"{name}.log"
            self.processes[name] = _spawn(self.commands[name], self.env, log)
        _wait_ready(self, names)

    def stop(self, *names: str) -> None:
        """Stop the named processes as an orchestrator would (SIGTERM, then SIGKILL)."""
        _stop(self.processes[name] for name in names)

    def topic(self, name: str) -> str:
        """A topic's name on this stack's broker (see KAFKA_TOPIC_PREFIX)."""
        return self.env.get("KAFKA_TOPIC_PREFIX", "") + name

    @property
    def clock(self) -> ShiftableClock:
        """The clock every service of this stack reads: read it, pin it, move it."""
        return ShiftableClock(Path(self.env["CLOCK_FILE"]))

    def staff_token(self, role: Role = Role.ADMIN, subject: str = "dev@clinic.example") -> str:
        """A staff JWT minted on the stack's clock, valid for 12 hours of it."""
        return issue_staff_token(
            self.env["JWT_SECRET"],
            subject=subject,
            role=role,
            now=self.clock.now(),
            ttl=timedelta(hours=12),
        )


@contextlib.contextmanager
def running_stack(
    workdir: Path,
    *,
    ports: Mapping[str, int] | None = None,
    bootstrap_servers: str | None = None,
    database_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    pinned_at: datetime | None = None,
    replicas: int = 1,
    workers_apart: bool = False,
) -> Iterator[Stack]:
    """Start everything, wait until every service is ready, stop it all on exit.

    The broker and database are the ones given, else those the environment names,
    else started here (see :mod:`devstack.infra`); ``extra_env`` adds variables. With
    ``pinned_at`` every service's clock stands at that instant until ``stack.clock`` is
    moved (the tests); without it, it is the wall clock, shifted by ``make time``.
    ``replicas`` processes run each service, all of it in each (API and workers), unless
    ``workers_apart``: then, as in production (deploy/k8s), the APIs run no workers and
    each worker of each service runs in a process of its own, with a health port.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    ports = dict(ports or {name: free_port() for name in (*SERVICES, "sandbox")})
    more = [f"{name}-{n}" for name in SERVICES for n in range(2, replicas + 1)]
    apart = (
        [f"{name}.{worker}" for name in SERVICES for worker in _workers(name)]
        if workers_apart
        else []
    )
    ports.update({name: free_port() for name in (*more, *apart)})
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with (
        _given(bootstrap_servers) or kafka_broker(logs / "broker.log") as bootstrap,
        _given(database_url) or postgres_server(workdir / "postgres") as server_url,
    ):
        env = {
            **os.environ,
            "DATABASE_URL": server_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "JWT_SECRET": os.environ.get("JWT_SECRET", DEV_JWT_SECRET),
            "LOG_JSON": "false",
            "TWILIO_ACCOUNT_SID": DEV_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": DEV_AUTH_TOKEN,
            "TWILIO_API_BASE_URL": urls["sandbox"],
            "NOTIFY_PUBLIC_URL": urls["notify"],
            "NOTIFY_CLINIC_NAME": "Mesocycle Paris",
            "CLOCK_FILE": str((workdir / "clock").resolve()),
            # The staff board and self-booking pages are served by booking; the board's
            # browser calls plans and notify directly.
            "CORS_ORIGINS": urls["booking"],
            "BOOKING_PLANS_PUBLIC_URL": urls["plans"],
            "BOOKING_NOTIFY_PUBLIC_URL": urls["notify"],
            "BOOKING_SELF_BOOKING_URL": urls["booking"] + "/book",
            "TWILIO_SANDBOX_ACCOUNT_SID": DEV_ACCOUNT_SID,
            "TWILIO_SANDBOX_AUTH_TOKEN": DEV_AUTH_TOKEN,
            "TWILIO_SANDBOX_HOST": "127.0.0.1",
            "TWILIO_SANDBOX_PORT": str(ports["sandbox"]),
            "TWILIO_SANDBOX_INBOUND_WEBHOOK_URL": urls["notify"] + "/v1/twilio/inbound",
            **{f"{name.upper()}_RUN_WORKERS": "false" for name in SERVICES if workers_apart},
            **(extra_env or {}),
        }
        stack = Stack(urls=urls, env=env, logs=logs)
        stack.commands["sandbox"] = ["-m", "twilio_sandbox"]
        for name in (*SERVICES, *more):
            serve = ["serve", "--host", "127.0.0.1", "--port", str(ports[name])]
            stack.commands[name] = ["-m", name.partition("-")[0], *serve]
        for name in apart:
            service, _, worker = name.partition(".")
            probes = ["--host", "127.0.0.1", "--health-port", str(ports[name])]
            stack.commands[name] = ["-m", service, worker, *probes]
        if pinned_at is not None:
            stack.clock.pin(pinned_at)
        try:
            _migrate(env, logs)
            stack.start(*stack.commands)
            yield stack
        finally:
            _stop(stack.processes.values())


def _workers(service: str) -> list[str]:
    """The names of ``service``'s workers (``relay``, ``consume``, notify's ``dispatch``...)."""
    app = importlib.import_module(f"{service}.app")
    names: list[str] = app.service().worker_names()
    return names


def _service_of(process: str) -> str:
    """``booking`` for ``booking``, ``booking-2`` and ``booking.consume``."""
    return process.partition(".")[0].partition("-")[0]


def _given(value: str | None) -> contextlib.AbstractContextManager[str] | None:
    return contextlib.nullcontext(value) if value else None


def _spawn(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, *args], env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )


def _migrate(env: Mapping[str, str], logs: Path) -> None:
    migrations = {
        name: _spawn(["-m", name, "migrate"], env, logs / f"{name}-migrate.log")
        for name in SERVICES
    }
    for name, process in migrations.items():
        if process.wait(120) != 0:
            raise RuntimeError(f"{name} migrations failed: see {logs / f'{name}-migrate.log'}")


def _wait_ready(stack: Stack, names: Iterable[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = {
        name: stack.urls[name] + ("/_sandbox/messages" if name == "sandbox" else "/readyz")
        for name in names
    }
    while pending:
        for name, url in list(pending.items()):
            process = stack.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: see {stack.logs}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1.0).status_code == 200:
                    del pending[name]
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.2)


def _stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        if process.poll() is None:
            process.kill()


@contextlib.contextmanager
def service_databases(server_url: str, label: str) -> Iterator[dict[str, str]]:
    """A database of its own per service for one stack on ``server_url``
    (``<SERVICE>_DATABASE_URL``, named after ``label``), dropped after: a stack a test or a
    benchmark starts on a shared server never touches the others' databases."""
    databases = {
        f"{name.upper()}_DATABASE_URL": make_url(server_url)
        .set(database=f"mc_{label}_{name}")
        .render_as_string(hide_password=False)
        for name in SERVICES
    }
    try:
        yield databases
    finally:
        for url in databases.values():
            asyncio.run(drop_database(url))
