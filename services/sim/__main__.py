"""``python -m sim``: weeks of clinic life against the real processes, checked.

    python -m sim --weeks 12 --seed 7 --faults --workdir /tmp/sim-run

Exits 1 when any invariant was violated (each is printed with its ids as it is found),
0 otherwise; the report is in ``WORKDIR/report/`` (``report.json``, ``report.html``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from sim.main import simulate
from sim.runner import Config


def parse(argv: list[str]) -> tuple[Config, Path, Path | None]:
    default = Config()
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--weeks", type=float, default=default.weeks, help="simulated span")
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=default.start,
        help="the first instant, ISO 8601 with an offset",
    )
    parser.add_argument("--patients-per-week", type=float, default=default.patients_per_week)
    parser.add_argument(
        "--modes",
        default=",".join(default.modes),
        help="booking modes in turn: invite, auto or invite,auto",
    )
    parser.add_argument(
        "--mode-weeks",
        type=float,
        default=default.mode_weeks,
        help="weeks between booking-mode switches",
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help="kill -9, broker restart, PostgreSQL restart, paused consumer",
    )
    parser.add_argument("--fault-every-days", type=float, default=default.fault_every_days)
    parser.add_argument("--min-step-minutes", type=float, default=10)
    parser.add_argument(
        "--workers-apart",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="each worker in a process of its own (default: with --faults)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=None, help="default: WORKDIR/report")
    args = parser.parse_args(argv)
    if args.start.tzinfo is None:
        parser.error("--start needs a UTC offset, e.g. 2026-06-15T07:00:00+02:00")
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or set(modes) - {"invite", "auto"}:
        parser.error("--modes: invite, auto or invite,auto")
    config = Config(
        seed=args.seed,
        weeks=args.weeks,
        start=args.start,
        patients_per_week=args.patients_per_week,
        modes=modes,
        mode_weeks=args.mode_weeks,
        faults=args.faults,
        fault_every_days=args.fault_every_days,
        min_step=timedelta(minutes=args.min_step_minutes),
        workers_apart=args.workers_apart,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mesocycle-sim-"))
    return config, workdir, args.report


def main(argv: list[str] | None = None) -> int:
    config, workdir, report_dir = parse(sys.argv[1:] if argv is None else argv)
    print(
        f"[sim] seed {config.seed}, {config.weeks} weeks from {config.start.isoformat()}, "
        f"faults {'on' if config.faults else 'off'}; working in {workdir}",
        flush=True,
    )
    result = simulate(
        config, workdir, report_dir=report_dir, log=lambda line: print(line, flush=True)
    )
    for name, value in result.summary["figures"].items():
        print(f"  {name}: {value}")
    print(f"[sim] report: {result.report_html}")
    if result.violations:
        print(f"[sim] {len(result.violations)} violation(s)", file=sys.stderr)
        return 1
    print("[sim] no violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
