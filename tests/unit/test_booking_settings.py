"""The clinic's booking mode is set by BOOKING_MODE, as the docs say."""

from __future__ import annotations

import pytest

from booking.settings import BookingSettings


def test_booking_mode_reads_booking_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKING_MODE", "auto")
    assert BookingSettings().booking_mode == "auto"


def test_booking_mode_defaults_to_invite_and_takes_its_field_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BOOKING_MODE", raising=False)
    assert BookingSettings().booking_mode == "invite"
    assert BookingSettings.model_validate({"booking_mode": "auto"}).booking_mode == "auto"
