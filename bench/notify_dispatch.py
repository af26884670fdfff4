"""Benchmark: notify's dispatch throughput and lateness against the Twilio sandbox.

Schedules ``--count`` messages due at ``--rate`` per second from a few seconds ahead,
runs ``--dispatchers`` dispatcher processes (the real Dispatcher, the real twilio SDK)
against a sandbox in its own process, and reports throughput, lateness (due -> the send
request leaving for Twilio) and double sends (counted by the sandbox).

    .venv/bin/python -m bench.notify_dispatch --count 100000 --rate 1000 --dispatchers 4

Needs a PostgreSQL (``DATABASE_URL``, default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import notify
from notify.adapters.db import Message, Patient
from notify.adapters.sms import TwilioGateway
from notify.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, NotifySettings
from notify.workers.dispatcher import Dispatcher
from shared.clock import SystemClock
from shared.db import create_engine, drop_database, session_factory
from shared.migrate import upgrade

PATIENTS = 1000
#: The service's defaults are 100 and 0.2 s; a dispatcher kept busy claims smaller, fresher batches.
BATCH_SIZE = 200
INTERVAL = 0.05


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def sandbox_process() -> Iterator[str]:
    """The repo's Twilio sandbox in a process of its own."""
    port = _free_port()
    env = {
        **os.environ,
        "TWILIO_SANDBOX_ACCOUNT_SID": SANDBOX_ACCOUNT_SID,
        "TWILIO_SANDBOX_AUTH_TOKEN": SANDBOX_AUTH_TOKEN,
        "TWILIO_SANDBOX_PORT": str(port),
        "TWILIO_SANDBOX_DELIVERY_DELAY_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "twilio_sandbox"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_sandbox/settings", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def schedule(url: str, *, count: int, rate: float, lead: float) -> datetime:
    """Insert ``count`` pending messages due from ``lead`` seconds ahead at ``rate``/s."""
    await upgrade(Path(notify.__file__).parent / "migrations", url)
    engine = create_engine(url)
    start = datetime.now(UTC) + timedelta(seconds=lead)
    patients = [uuid.uuid4() for _ in range(PATIENTS)]
    async with session_factory(engine).begin() as session:
        await session.execute(sa.insert(Patient), [
            {"id": p, "full_name": "", "phone": f"+336{10_000_000 + i:08d}", "time_zone": "UTC",
             "language": "en", "sms_consent": True, "needle_sensitive": False}
            for i, p in enumerate(patients)
        ])  # fmt: skip
        for first in range(0, count, 10_000):
            await session.execute(sa.insert(Message), [
                {"id": uuid.uuid4(), "patient_id": patients[i % PATIENTS], "kind": "confirmation",
                 "body": f"Bench clinic: see you at 10:00 (#{i}).",
                 "due_at": start + timedelta(seconds=i / rate),
                 "expires_at": start + timedelta(hours=2), "status": "pending",
                 "created_at": start, "updated_at": start}
                for i in range(first, min(first + 10_000, count))
            ])  # fmt: skip
    await engine.dispose()
    return start


def dispatch_worker(url: str, sandbox: str, drained_after: float, until: float) -> None:
    """One dispatcher process: the real ``Dispatcher.run``, until all is sent (or ``until``)."""

    async def run() -> None:
        settings = NotifySettings(database_url=url, twilio_api_base_url=sandbox)
        engine = create_engine(url, pool_size=5)
        gateway = TwilioGateway(settings)
        dispatcher = Dispatcher(
            sessions=session_factory(engine), gateway=gateway, clock=SystemClock(),
            status_callback=None, batch_size=BATCH_SIZE, interval=INTERVAL,
        )  # fmt: skip
        running = asyncio.create_task(dispatcher.run())
        left = sa.select(sa.exists().where(Message.status.in_(["pending", "sending"])))
        try:
            while time.time() < until:
                await asyncio.sleep(0.5)
                if time.time() > drained_after:
                    async with session_factory(engine)() as session:
                        if not await session.scalar(left):
                            break  # everything went out
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await gateway.close()
            await engine.dispose()

    asyncio.run(run())


async def report(url: str, sandbox: str, count: int) -> None:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        rows = (
            await session.execute(sa.select(Message.attempted_at, Message.due_at, Message.status))
        ).all()
    await engine.dispose()
    lateness = sorted(
        (attempted - due).total_seconds() for attempted, due, _ in rows if attempted is not None
    )
    statuses: dict[str, int] = {}
    for *_, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    attempted = [a for a, _, _ in rows if a is not None]
    span = (max(attempted) - min(attempted)).total_seconds() if attempted else 0.0
    async with httpx.AsyncClient(timeout=120) as client:
        listed = (await client.get(f"{sandbox}/_sandbox/messages")).json()
    bodies = [m["resource"]["body"] for m in listed["messages"]]

    def pct(p: float) -> float:
        return lateness[min(len(lateness) - 1, int(p * len(lateness)))] if lateness else 0.0

    print(f"messages scheduled        {count}")
    print(f"statuses                  {statuses}")
    print(f"accepted by the sandbox   {len(bodies)} ({len(bodies) - len(set(bodies))} twice)")
    print(f"throughput                {len(attempted) / span if span else 0:.0f} msg/s")
    print(f"lateness p50 / p99 / max  {pct(0.5):.3f} s / {pct(0.99):.3f} s / {pct(1.0):.3f} s")
    print(f"lateness mean             {statistics.fmean(lateness) if lateness else 0:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages due per second")
    parser.add_argument("--dispatchers", type=int, default=4)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = (
        make_url(server)
        .set(drivername="postgresql+asyncpg", database=f"bench_notify_{uuid.uuid4().hex[:6]}")
        .render_as_string(hide_password=False)
    )
    with sandbox_process() as sandbox:
        try:
            asyncio.run(schedule(url, count=args.count, rate=args.rate, lead=5.0))
            last_due = time.time() + 5.0 + args.count / args.rate
            until = last_due + 600.0
            context = multiprocessing.get_context("spawn")
            workers = [
                context.Process(target=dispatch_worker, args=(url, sandbox, last_due, until))
                for _ in range(args.dispatchers)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            asyncio.run(report(url, sandbox, args.count))
        finally:
            asyncio.run(drop_database(url))


if __name__ == "__main__":
    main()
