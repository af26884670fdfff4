"""Breaking the system on purpose while the clinic runs: kill -9 of a process, a broker
restart, a PostgreSQL restart, a consumer paused.

The simulator owns the broker and the database it runs on (:class:`Infrastructure`), so it
can stop and start them; the services are the stack's processes. Each fault brackets one
step's actions (:meth:`Faults.begin` before them, :meth:`Faults.end` after, before the
system is let to settle): work is in flight when it hits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from devstack.infra import postgres_server, postgres_stopped
from devstack.kafka import apache_kafka
from devstack.ports import free_port
from devstack.stack import Stack
from sim.observe import Observer

KINDS = ("kill", "broker", "postgres", "pause")


class Infrastructure:
    """An Apache Kafka broker and an embedded PostgreSQL of the simulator's own."""

    def __init__(self, workdir: Path) -> None:
        self.broker_dir = workdir / "kafka"
        self.postgres_dir = workdir / "postgres"
        self.port = free_port()
        self._broker: contextlib.ExitStack | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """Start both; yield the database server's URL; stop both on exit."""
        with postgres_server(self.postgres_dir) as database_url:
            self.start_broker()
            try:
                yield database_url
            finally:
                self.stop_broker()

    def start_broker(self) -> None:
        broker = contextlib.ExitStack()
        broker.enter_context(
            apache_kafka(self.broker_dir, self.broker_dir / "logs", port=self.port)
        )
        self._broker = broker

    def stop_broker(self) -> None:
        if self._broker is not None:
            self._broker.close()
            self._broker = None

    def database_stopped(self) -> contextlib.AbstractContextManager[None]:
        return postgres_stopped(self.postgres_dir)


@dataclass
class Injected:
    """One fault, as the report lists it."""

    kind: str
    target: str
    at: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "at": self.at,
            "recovery_seconds": round(self.seconds, 1),
            "notes": self.notes,
        }


class Faults:
    """Injects the scheduled faults; what it did is in :attr:`injected`."""

    def __init__(
        self, stack: Stack, infra: Infrastructure, observer: Observer, rng: random.Random
    ) -> None:
        self._stack, self._infra, self._observer, self._rng = stack, infra, observer, rng
        self.injected: list[Injected] = []
        self._current: Injected | None = None
        self._started = 0.0
        self._paused: str | None = None

    async def begin(self, kind: str, now: datetime) -> None:
        """Before the step's actions: the broker goes down, or a consumer freezes."""
        processes = sorted(self._stack.processes)
        self._started = time.monotonic()
        if kind == "broker":
            self._current = Injected(kind, "broker", now.isoformat())
            await self._observer.disconnect_broker()
            await asyncio.to_thread(self._infra.stop_broker)
        elif kind == "pause" and not [p for p in processes if p.endswith(".consume")]:
            # Consumers inside the API processes: freezing one would freeze its API too.
            await self.begin("kill", now)
        elif kind == "pause":
            name = self._rng.choice([p for p in processes if p.endswith(".consume")])
            self._current = Injected(kind, name, now.isoformat())
            self._stack.processes[name].send_signal(signal.SIGSTOP)
            self._paused = name
        elif kind == "kill":
            name = self._rng.choice([p for p in processes if p != "sandbox"])
            self._current = Injected(kind, name, now.isoformat())
        elif kind == "postgres":
            self._current = Injected(kind, "postgresql", now.isoformat())
        else:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(KINDS)}")

    async def end(self) -> Injected | None:
        """After the step's actions, with their effects in flight: kill -9 and restart, the
        database stopped and started, the broker started again, the consumer let go."""
        fault, self._current = self._current, None
        if fault is None:
            return None
        if fault.kind == "broker":
            await asyncio.to_thread(self._infra.start_broker)
            await self._observer.connect_broker()
        elif fault.kind == "pause":
            assert self._paused is not None
            service = self._paused.partition(".")[0]
            await self._wait_for_lag(service, fault)
            self._stack.processes[self._paused].send_signal(signal.SIGCONT)
            self._paused = None
        elif fault.kind == "kill":
            process = self._stack.processes[fault.target]
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            await asyncio.to_thread(self._stack.start, fault.target)
        elif fault.kind == "postgres":
            with self._infra.database_stopped():
                await self._readiness(ready=False, fault=fault)
            await self._readiness(ready=True, fault=fault)
        fault.seconds = time.monotonic() - self._started
        self.injected.append(fault)
        return fault

    async def _wait_for_lag(self, service: str, fault: Injected, within: float = 10.0) -> None:
        """Hold the consumer until its group has events waiting (the actions' effects)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if (await self._observer.lag()).get(service, 0) > 0:
                    fault.notes.append(f"{service}'s group had events waiting while paused")
                    return
            await asyncio.sleep(0.2)
        fault.notes.append("no events waited for the paused consumer")

    async def _readiness(self, *, ready: bool, fault: Injected, within: float = 60.0) -> None:
        urls = [self._stack.urls[s] for s in ("plans", "booking", "notify")]
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() < deadline:
                answers = []
                for url in urls:
                    try:
                        answers.append((await client.get(f"{url}/readyz")).status_code == 200)
                    except httpx.HTTPError:
                        answers.append(False)
                if all(answers) if ready else not any(answers):
                    fault.notes.append("every API ready" if ready else "every API said not ready")
                    return
                await asyncio.sleep(0.2)
        fault.notes.append(f"APIs not {'ready' if ready else 'down'} after {within:.0f} s")
