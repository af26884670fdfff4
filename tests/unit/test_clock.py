"""The clocks: the demo's shared time travel and the tests' manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devstack.__main__ import parse_shift
from shared.clock import ManualClock, ShiftableClock
from shared.service import clock_from
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service = "test"
    default_port = 0


def test_a_shift_written_by_one_clock_moves_every_clock_reading_the_file(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    demo, service = ShiftableClock(path), ShiftableClock(path)
    before = service.now()
    demo.shift(timedelta(days=1))
    assert service.now() - before >= timedelta(days=1)
    assert service.now() - before < timedelta(days=1, minutes=1)
    demo.shift(-demo.offset)
    assert service.offset == timedelta(0)


def test_a_pinned_clock_stands_still_for_every_reader_until_moved(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    test, service = ShiftableClock(path), ShiftableClock(path)
    # UTC, so + is elapsed time (aware arithmetic within one zone is wall-clock time).
    night = datetime(2027, 3, 28, 1, 30, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
    test.pin(night)
    assert service.pinned
    assert service.now() == service.now() == night
    test.advance(timedelta(hours=1))  # across the DST change: 03:30 summer time
    assert service.now() == night + timedelta(hours=1)
    assert f"{service.now().astimezone(ZoneInfo('Europe/Paris')):%H:%M}" == "03:30"
    test.set(night + timedelta(days=1))
    assert service.now() == night + timedelta(days=1)
    test.unpin()
    assert not service.pinned
    assert abs(service.now() - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(ValueError, match="timezone-aware"):
        test.pin(datetime(2027, 1, 1))  # noqa: DTZ001


def test_without_its_file_the_shiftable_clock_is_the_wall_clock(tmp_path: Path) -> None:
    clock = ShiftableClock(tmp_path / "missing")
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_clock_file_is_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CLOCK_FILE"):
        Settings(environment="production", jwt_secret="s3cret", clock_file=tmp_path / "clock")
    settings = Settings(clock_file=tmp_path / "clock")
    assert isinstance(clock_from(settings), ShiftableClock)


@pytest.mark.parametrize(
    ("text", "delta"),
    [("+1d", timedelta(days=1)), ("-30m", timedelta(minutes=-30)), ("+2.5h", timedelta(hours=2.5))],
)
def test_devstack_reads_time_shifts(text: str, delta: timedelta) -> None:
    assert parse_shift(text) == delta


def test_devstack_refuses_a_shift_it_cannot_read() -> None:
    with pytest.raises(SystemExit, match="cannot read"):
        parse_shift("+1w")


def test_the_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    clock.advance(timedelta(hours=2))
    assert clock.now() == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001
