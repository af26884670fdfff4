"""The booking API in one process under cProfile, with every SQL statement timed: where a
reservation's time goes. Started by ``bench.booking_reservations --profile DIR``.

    python -m bench.booking_profile PORT DIR

On SIGTERM it writes ``DIR/api.pstats`` (read it with ``python -m pstats``) and
``DIR/statements.txt`` (count, total and mean wall time per statement, slowest first).
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import event
from sqlalchemy.engine import Engine

from booking.app import create_app

_timings: defaultdict[str, list[float]] = defaultdict(list)


@event.listens_for(Engine, "before_cursor_execute")
def _started(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    conn.info.setdefault("bench_started", []).append(time.perf_counter())


@event.listens_for(Engine, "after_cursor_execute")
def _finished(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    started = conn.info["bench_started"].pop()
    _timings[" ".join(statement.split())[:160]].append(time.perf_counter() - started)


def _write_statements(path: Path) -> None:
    rows = sorted(_timings.items(), key=lambda item: -sum(item[1]))
    with path.open("w") as out:
        for statement, times in rows:
            total = sum(times)
            out.write(
                f"{len(times):7d} x {total / len(times) * 1000:7.2f} ms = {total:7.2f} s  "
                f"{statement}\n"
            )


def main() -> None:
    port, out = int(sys.argv[1]), Path(sys.argv[2])
    config = uvicorn.Config(
        create_app,
        factory=True,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    # uvicorn shuts down on SIGTERM, then raises it again with the handler it found: ours.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profile = cProfile.Profile()
    profile.enable()
    try:
        uvicorn.Server(config).run()
    finally:
        profile.disable()
        profile.dump_stats(out / "api.pstats")
        _write_statements(out / "statements.txt")


if __name__ == "__main__":
    main()
