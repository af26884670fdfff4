"""The booking API in one process under cProfile, with every round trip to PostgreSQL
timed: where a reservation's time goes. Started by ``bench.booking_reservations --profile
DIR``.

    python -m bench.booking_profile PORT DIR

On SIGTERM it writes ``DIR/api.pstats`` (read it with ``python -m pstats``) and
``DIR/statements.txt``: count, total and mean wall time of every statement sent through
asyncpg, slowest first, SQLAlchemy's and the raw ones alike (BEGIN, COMMIT and the pool's
pre-ping included), and above them the round trips per reservation (per
``INSERT INTO appointment``).
"""

from __future__ import annotations

import cProfile
import functools
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import uvicorn
from asyncpg.prepared_stmt import PreparedStatement

from booking.app import create_app

_timings: defaultdict[str, list[float]] = defaultdict(list)
R = TypeVar("R")


def _timed(
    method: Callable[..., Coroutine[Any, Any, R]],
    text: Callable[[Any, tuple[Any, ...]], str | None],
) -> Callable[..., Coroutine[Any, Any, R]]:
    """``method``, each call timed under ``text(self, args)`` (None: not a round trip of
    its own, the method it calls is timed)."""

    @functools.wraps(method)
    async def timed(self: Any, *args: Any, **kwargs: Any) -> R:
        what = text(self, args)
        if what is None:
            return await method(self, *args, **kwargs)
        started = time.perf_counter()
        try:
            return await method(self, *args, **kwargs)
        finally:
            _timings[" ".join(what.split())[:160]].append(time.perf_counter() - started)

    return timed


def _instrument_asyncpg() -> None:
    """Time each round trip: a statement with arguments (raw, through ``_execute``), one
    without (BEGIN, COMMIT, ROLLBACK: a simple query), a prepare and a prepared
    statement's run (SQLAlchemy's path)."""
    connection: Any = asyncpg.Connection
    connection._execute = _timed(connection._execute, lambda _, args: args[0])
    connection.execute = _timed(connection.execute, lambda _, args: None if args[1:] else args[0])
    connection.prepare = _timed(connection.prepare, lambda _, args: f"(prepare) {args[0]}")
    prepared: Any = PreparedStatement
    for name in ("fetch", "fetchrow", "fetchval", "executemany"):
        setattr(prepared, name, _timed(getattr(prepared, name), lambda self, _: self._query))


def _write_statements(path: Path) -> None:
    rows = sorted(_timings.items(), key=lambda item: -sum(item[1]))
    reservations = sum(
        len(times)
        for statement, times in rows
        if "INSERT INTO appointment" in statement and not statement.startswith("(prepare)")
    )
    with path.open("w") as out:
        if reservations:
            trips = sum(len(times) for _, times in rows)
            out.write(f"{reservations} reservations, {trips / reservations:.2f} round trips each\n")
            for statement, times in rows:
                if len(times) >= reservations / 2:
                    out.write(f"  {len(times) / reservations:5.2f} x  {statement[:100]}\n")
            out.write("\n")
        for statement, times in rows:
            total = sum(times)
            out.write(
                f"{len(times):7d} x {total / len(times) * 1000:7.2f} ms = {total:7.2f} s  "
                f"{statement}\n"
            )


def main() -> None:
    port, out = int(sys.argv[1]), Path(sys.argv[2])
    _instrument_asyncpg()
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
