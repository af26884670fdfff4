"""Plan activated -> every booking request of its cycle open in booking (and, in invite
mode, the invitation SMS accepted by the Twilio sandbox): p50/p99 over plans activated
back to back, against the whole system as `make dev` runs it.

    .venv/bin/python -m bench.activation [--plans 200] [--mode invite|auto] [--poll-ms 10]

Uses DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS when set, else starts the embedded
PostgreSQL and Apache Kafka (one KRaft node, as `make dev` and the tests do). The three
services and the Twilio sandbox run as real processes (``devstack.stack.running_stack``,
one process each, workers in the API process), on databases, topics and consumer groups
of this run's own; every service's clock is pinned at 10:00 in Paris on the next weekday,
outside notify's quiet hours, and the demo clinic is seeded as `make dev` seeds it.

First, not measured: ``--plans`` patients registered and a draft plan of the medical
protocol (five sessions) for each, until every outbox is drained and no consumer group
lags. Then each plan in turn: POST /v1/plans/{id}/activate, then poll every
``--poll-ms`` booking's database for the plan's booking requests (all of its sessions,
open; in auto mode, all of them there, the first held) and the sandbox for a new SMS to
the patient; the next plan starts when both are seen. Times run from the activation's
request leaving; they include up to one poll interval. Target (issue #18): p99 <= 1 s.

notify sends from one number at NOTIFY_SMS_SEGMENTS_PER_SECOND (default 1, a long code's
rate, with a burst of 10): once the burst is spent, back-to-back plans wait for that rate,
not for the system. ``--sms-rate N`` sets it for this run (a short code or a messaging
service sends far faster) to see the pipeline's own latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from bench.harness import (
    Infrastructure,
    argument_parser,
    infrastructure,
    machine_lines,
    ms,
    percentile,
    spread,
    unique_name,
)
from devstack.demo import seed
from devstack.stack import SERVICES, Stack, running_stack, service_databases
from notify.settings import NotifySettings
from twilio_sandbox.segments import count_segments

PARIS = ZoneInfo("Europe/Paris")
TARGET = 1.0
SETUP_CONCURRENCY = 4


@dataclass(frozen=True)
class Draft:
    n: int
    plan_id: str
    phone: str


@dataclass
class Timings:
    answered: list[float] = field(default_factory=list)
    opened: list[float] = field(default_factory=list)
    texted: list[float] = field(default_factory=list)
    segments: list[int] = field(default_factory=list)  # of each SMS, as Twilio counts them
    sessions: set[int] = field(default_factory=set)  # booking requests a plan opens


def pinned_instant(now: datetime) -> datetime:
    """10:00 in Paris on the next weekday: daytime, so no SMS waits for the morning."""
    day = now.astimezone(PARIS).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, clock_time(10), PARIS)


async def draft_plans(
    stack: Stack, client: httpx.AsyncClient, clinic: dict[str, Any], count: int
) -> list[Draft]:
    """``count`` patients, each with a draft plan of the medical protocol."""
    plans, protocol = stack.urls["plans"], clinic["protocol_ids"]["medical"]
    start = stack.clock.now().astimezone(PARIS).date() + timedelta(days=2)
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def draft(n: int) -> Draft:
        async with gate:
            phone = f"+33621{n:06d}"
            patient = await client.post(f"{plans}/v1/patients", json={
                "full_name": f"Bench Patient {n}", "phone": phone, "time_zone": "Europe/Paris",
                "language": "fr", "sms_consent": True, "needle_sensitive": False,
            })  # fmt: skip
            patient.raise_for_status()
            plan = await client.post(f"{plans}/v1/plans", json={
                "patient_id": patient.json()["id"], "protocol_id": protocol,
                "areas": ["back"], "start_date": start.isoformat(),
            })  # fmt: skip
            plan.raise_for_status()
            return Draft(n, plan.json()["id"], phone)

    return list(await asyncio.gather(*(draft(n) for n in range(count))))


async def settled(stack: Stack, client: httpx.AsyncClient, within: float = 180) -> None:
    """Until every outbox is drained and no service's consumer group lags (twice running)."""
    deadline, calm = time.monotonic() + within, 0
    while calm < 2:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the system did not settle within {within:.0f} s")
        lags = [await _lag(client, stack.urls[name]) for name in SERVICES]
        pending = [await _unpublished(stack.env[f"{n.upper()}_DATABASE_URL"]) for n in SERVICES]
        calm = calm + 1 if not any(lags) and not any(pending) else 0
        await asyncio.sleep(1.0)


async def _lag(client: httpx.AsyncClient, base: str) -> float:
    text = (await client.get(f"{base}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("consumer_lag{"))  # fmt: skip


async def _unpublished(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
        return count
    finally:
        await connection.close()


async def sms_counts(client: httpx.AsyncClient, sandbox: str) -> dict[str, int]:
    """Outbound messages the sandbox has accepted so far, per number."""
    counts: dict[str, int] = {}
    for message in (await client.get(f"{sandbox}/_sandbox/messages")).json()["messages"]:
        to = message["resource"]["to"]
        counts[to] = counts.get(to, 0) + 1
    return counts


async def activate_all(
    stack: Stack, client: httpx.AsyncClient, drafts: list[Draft], mode: str, poll: float
) -> Timings:
    timings = Timings()
    plans, sandbox = stack.urls["plans"], stack.urls["sandbox"]
    # Invite mode: every request open. Auto mode: every request there (the first held).
    count = (
        "SELECT count(*) FROM booking_request WHERE plan_id = $1"
        " AND (status = 'open' OR NOT $2::bool)"
    )
    invite = mode == "invite"
    texted_before = await sms_counts(client, sandbox)
    booking = await asyncpg.connect(stack.env["BOOKING_DATABASE_URL"])
    try:
        for draft in drafts:
            started = time.perf_counter()
            answer = await client.post(f"{plans}/v1/plans/{draft.plan_id}/activate")
            if answer.status_code != 200:
                raise RuntimeError(f"activating plan {draft.n}: {answer.text}")
            timings.answered.append(time.perf_counter() - started)
            # A draft has no sessions yet: activation computes them.
            sessions = len(answer.json()["sessions"])
            if not sessions:
                raise RuntimeError(f"plan {draft.n} was activated with no session")
            timings.sessions.add(sessions)
            opened = texted = None
            while opened is None or texted is None:
                if time.perf_counter() - started > 60:
                    raise RuntimeError(f"plan {draft.n}: nothing after 60 s ({opened}, {texted})")
                if (
                    opened is None
                    and await booking.fetchval(count, draft.plan_id, invite) >= sessions
                ):
                    opened = time.perf_counter() - started
                if texted is None:
                    found = await client.get(
                        f"{sandbox}/_sandbox/messages", params={"to": draft.phone}
                    )
                    if found.json()["count"] > texted_before.get(draft.phone, 0):
                        texted = time.perf_counter() - started
                        message = found.json()["messages"][-1]["resource"]
                        timings.segments.append(count_segments(message["body"]))
                if opened is None or texted is None:
                    await asyncio.sleep(poll)
            timings.opened.append(opened)
            timings.texted.append(texted)
    finally:
        await booking.close()
    return timings


async def bench(stack: Stack, workdir: Path, plans: int, mode: str, poll: float) -> Timings:
    clinic = await asyncio.to_thread(seed, stack, workdir / "seeded.json")
    headers = {"Authorization": f"Bearer {stack.staff_token()}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        drafts = await draft_plans(stack, client, clinic, plans)
        await settled(stack, client)
        return await activate_all(stack, client, drafts, mode, poll)


def run(
    infra: Infrastructure,
    plans: int,
    mode: str,
    poll: float,
    sms_rate: float | None,
    workdir: Path,
) -> None:
    label = unique_name("bench_act")
    with service_databases(infra.server_url, label) as databases:
        env = {
            **databases,
            "KAFKA_TOPIC_PREFIX": f"{label}.",
            "KAFKA_GROUP_SUFFIX": f"-{label}",
            "BOOKING_MODE": mode,
            **({"NOTIFY_SMS_SEGMENTS_PER_SECOND": str(sms_rate)} if sms_rate else {}),
        }
        pinned = pinned_instant(datetime.now(PARIS))
        with running_stack(
            workdir / "stack",
            bootstrap_servers=infra.servers,
            database_url=infra.server_url,
            extra_env=env,
            pinned_at=pinned,
        ) as stack:
            timings = asyncio.run(bench(stack, workdir, plans, mode, poll))
        report(timings, plans, mode, poll, pinned)
        rate = sms_rate or NotifySettings.model_fields["sms_segments_per_second"].default
        default = "" if sms_rate else ", the service's default"
        segments = statistics.mean(timings.segments)
        print(
            f"  notify's sender: {rate} SMS segment(s) a second{default}; "
            f"{segments:.1f} segment(s) per SMS"
        )
        lines = machine_lines(infra, databases["BOOKING_DATABASE_URL"])
    sms = "invitation SMS" if mode == "invite" else "first SMS (the hold's)"
    opened, texted = percentile(timings.opened, 0.99), percentile(timings.texted, 0.99)
    print(lines[0])
    print(lines[1])
    print(
        f"activation p99: booking requests {'open' if mode == 'invite' else 'there'} "
        f"{ms(opened)}, {sms} accepted {ms(texted)}"
        f" (target <= {TARGET * 1000:.0f} ms)"
    )
    print(lines[2])


def report(timings: Timings, plans: int, mode: str, poll: float, pinned: datetime) -> None:
    print(
        f"activation: {plans} plans back to back, {'/'.join(map(str, sorted(timings.sessions)))}"
        f" sessions each, BOOKING_MODE={mode}, polled every {poll * 1000:.0f} ms; services'"
        f" clock pinned at {pinned.isoformat()}"
    )
    sms = "invitation SMS" if mode == "invite" else "first SMS (the hold's)"
    requests = "all booking requests open" if mode == "invite" else "all booking requests there"
    for what, values in (
        ("POST .../activate answered", timings.answered),
        (requests, timings.opened),
        (f"{sms} accepted by the sandbox", timings.texted),
    ):
        print(f"  {what:46} {spread(values)}")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--plans", type=int, default=200)
    parser.add_argument("--mode", choices=["invite", "auto"], default="invite")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="how often to look")
    parser.add_argument(
        "--sms-rate", type=float, help="notify's SMS segments per second (default: notify's)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the logs (and PostgreSQL's and Kafka's data) here"
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-activation-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        infra = stack.enter_context(infrastructure(workdir))
        run(infra, args.plans, args.mode, args.poll_ms / 1000, args.sms_rate, workdir)


if __name__ == "__main__":
    main()
