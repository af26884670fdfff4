"""Send-time checks: the caps counted again when a message is due."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from notify.domain.policy import MessagePolicy
from notify.domain.sending import CapCounter, Claimed

PATIENT = uuid.uuid4()
NOW = datetime(2026, 6, 10, 21, 30, tzinfo=UTC)  # 23:30 in Paris, still Wednesday


def due(kind: str = "reminder_24h") -> Claimed:
    return Claimed(
        id=uuid.uuid4(), patient_id=PATIENT, appointment_id=None, kind=kind, body="Hi.",
        due_at=NOW, expires_at=None, attempts=1, phone="+33612345678",
        time_zone="Europe/Paris", sms_consent=True, opted_out=False, erased=False,
    )  # fmt: skip


def test_the_daily_cap_counts_the_patients_local_day() -> None:
    policy = MessagePolicy(daily_cap=2, weekly_cap=10)
    # 22:10 UTC the day before is 00:10 Wednesday in Paris: the same local day.
    sends = [
        (PATIENT, datetime(2026, 6, 9, 22, 10, tzinfo=UTC)),
        (PATIENT, NOW - timedelta(hours=1)),
    ]
    caps = CapCounter(policy, sends)
    assert "daily cap of 2" in (caps.reason_over_cap(due(), NOW) or "")
    assert caps.reason_over_cap(due("confirmation"), NOW) is None  # answers are never capped
    assert CapCounter(policy, sends[1:]).reason_over_cap(due(), NOW) is None


def test_the_weekly_cap_and_sends_counted_within_a_batch() -> None:
    policy = MessagePolicy(daily_cap=4, weekly_cap=5)
    monday = datetime(2026, 6, 8, 10, 0, tzinfo=UTC)
    sends = [(PATIENT, monday + timedelta(hours=h)) for h in range(4)]
    sends.append((uuid.uuid4(), NOW))  # another patient's SMS does not count
    caps = CapCounter(policy, sends)
    assert caps.reason_over_cap(due(), NOW) is None
    caps.count(due(), NOW)
    assert "weekly cap of 5" in (caps.reason_over_cap(due(), NOW) or "")
