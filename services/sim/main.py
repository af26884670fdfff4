"""One simulation from start to report: its own broker and database, the stack on them,
the step loop, the report. ``python -m sim`` is this with arguments."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devstack.stack import Stack, running_stack
from sim import report
from sim.faults import Infrastructure
from sim.invariants import Violation
from sim.observe import Observer
from sim.runner import Config, Simulation


@dataclass
class Result:
    violations: list[Violation]
    summary: dict[str, Any]
    report_json: Path
    report_html: Path


@contextlib.contextmanager
def clinic_stack(config: Config, workdir: Path) -> Iterator[tuple[Stack, Infrastructure]]:
    """The whole system on a broker and a database of the simulator's own (so that
    faults may restart them), its clock pinned at ``config.start``."""
    # The simulator's own broker clients say every reconnection while a fault is on.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    workdir.mkdir(parents=True, exist_ok=True)
    infra = Infrastructure(workdir)
    apart = config.faults if config.workers_apart is None else config.workers_apart
    minutes = {
        "BEFORE": int(config.buffer_before.total_seconds() // 60),
        "AFTER": int(config.buffer_after.total_seconds() // 60),
    }
    with (
        infra.running() as database_url,
        running_stack(
            workdir / "stack",
            bootstrap_servers=infra.bootstrap_servers,
            database_url=database_url,
            extra_env={
                # Two-segment texts by the dozen at one instant: a long code's 1/s is too slow.
                "NOTIFY_SMS_SEGMENTS_PER_SECOND": "50",
                "NOTIFY_RECONCILE_INTERVAL_SECONDS": "5",
                # Delivery callbacks at once: a step waits for them (they make events).
                "TWILIO_SANDBOX_DELIVERY_DELAY_SECONDS": "0",
                "BOOKING_MODE": config.modes[0],
                "BOOKING_SWEEP_SECONDS": "1",
                # Every patient of the run opens links at a handful of pinned instants.
                "BOOKING_LINK_REQUESTS_PER_MINUTE": "1000000",
                **{f"BOOKING_BUFFER_{k}_MINUTES": str(v) for k, v in minutes.items()},
            },
            pinned_at=config.start,
            workers_apart=apart,
        ) as stack,
    ):
        yield stack, infra


def simulate(
    config: Config,
    workdir: Path,
    *,
    report_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> Result:
    """Run ``config`` on processes started under ``workdir``; write the report."""
    started = time.monotonic()
    with clinic_stack(config, workdir) as (stack, infra):
        log(f"[sim] stack up in {time.monotonic() - started:.1f} s; logs in {stack.logs}")
        simulation = Simulation(config, stack, infra, Observer(stack.env, stack.urls["sandbox"]))
        simulation.log = log
        violations = asyncio.run(simulation.run())
    summary = summarize(simulation, time.monotonic() - started)
    json_path, html_path = report.write(report_dir or workdir / "report", summary)
    return Result(violations, summary, json_path, html_path)


def summarize(simulation: Simulation, seconds: float) -> dict[str, Any]:
    config = simulation.config
    world = simulation.world
    appointments = world.appointments if world else []
    statuses = Counter(a["status"] for a in appointments)
    kinds = Counter(s.kind for s in simulation.ledger.sent)
    paris = ZoneInfo("Europe/Paris")
    figures: dict[str, Any] = {
        "patients": simulation.counts["patients"],
        "plans": simulation.counts["plans"],
        "appointments": len(appointments),
        **{f"appointments {k}": v for k, v in sorted(statuses.items())},
        "SMS": len(simulation.ledger.sent),
        **{f"SMS {k}": v for k, v in sorted(kinds.items())},
        "faults injected": len(simulation.faults.injected) if simulation.faults else 0,
        "violations": len(simulation.violations),
        "steps": len(simulation.steps),
        "API calls": simulation.api.calls,
        "API refusals (4xx)": simulation.api.refusals,
        "wall_clock_seconds": round(seconds, 1),
    }
    return {
        "config": {
            **asdict(config),
            "start": config.start.isoformat(),
            "end": config.end.isoformat(),
        },
        "figures": figures,
        "counts": dict(sorted(simulation.counts.items())),
        "faults": [f.json() for f in simulation.faults.injected] if simulation.faults else [],
        "violations": [
            {**v.json(), "seen_again": _again(simulation, v)} for v in simulation.violations
        ],
        "steps": [asdict(s) for s in simulation.steps],
        "appointments": [
            {"day": a["starts_at"].astimezone(paris).date().isoformat(), "status": a["status"]}
            for a in appointments
        ],
        "sms": [
            {"day": s.sent_at.astimezone(paris).date().isoformat(), "kind": s.kind}
            for s in simulation.ledger.sent
        ],
    }


def _again(simulation: Simulation, violation: Violation) -> dict[str, Any]:
    """How many later checks found the same violation again, the last one when."""
    key = (violation.invariant, violation.detail, tuple(sorted(violation.ids.items())))
    count, last = simulation.recurrences.get(key, (0, ""))
    return {"times": count, "last_at": last}
