"""No test reads the wall clock: time is an input, pinned by the suite and moved by tests.

A test that asks the wall clock passes or fails with the hour it runs at. Tests read
``tests.clock.TEST_NOW`` or a stack's (or a ManualClock's) ``now()`` instead; monotonic
timeouts (``time.monotonic()``, the event loop's ``time()``) are not time of day.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
#: The clock helpers, the only files allowed to read the wall clock.
ALLOWED = {TESTS / "clock.py", TESTS / "unit" / "test_clock.py", Path(__file__).resolve()}
WALL_CLOCK = re.compile(r"\bdatetime\.now\(|\bdate\.today\(|\btime\.time\(|\bdatetime\.utcnow\(")


def test_no_test_reads_the_wall_clock() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path not in ALLOWED
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if WALL_CLOCK.search(line)
    ]
    assert not offenders, "read tests.clock.TEST_NOW or a clock instead:\n" + "\n".join(offenders)


def test_the_rule_catches_each_wall_clock_read() -> None:
    for line in ("datetime.now(UTC)", "date.today()", "start = time.time()", "datetime.utcnow()"):
        assert WALL_CLOCK.search(line), line
    for line in ("time.monotonic()", "loop.time()", "clock.now()", "stack.clock.now()"):
        assert not WALL_CLOCK.search(line), line
