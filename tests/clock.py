"""The tests' time: a fixed instant, never the hour the suite happens to run at.

Every stack a test starts runs on a pinned clock (see ``shared.clock.ShiftableClock``)
set to ``TEST_NOW`` and moved only by the tests. ``TEST_NOW`` is ISO 8601 with an offset
(``TEST_NOW=2027-03-28T01:30:00+01:00 make e2e``: quiet hours on the night Paris moves
to summer time); unset, it is :data:`DEFAULT_TEST_NOW`, a weekday morning in Paris.

This module and ``tests/unit/test_clock.py`` are the only places in ``tests/`` that may
read the wall clock (``tests/unit/test_time_is_an_input.py`` holds every other file to
that); monotonic timeouts are not time of day and are fine anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from datetime import UTC, datetime, timedelta

import httpx

from shared.auth import Role, issue_staff_token
from shared.clock import Clock

#: Tuesday 16 June 2026, 10:00 in Paris: office hours, no DST change near.
DEFAULT_TEST_NOW = "2026-06-16T10:00:00+02:00"


def test_now() -> datetime:
    """The instant every stack of this run starts at (``TEST_NOW``, else the default)."""
    text = os.environ.get("TEST_NOW") or DEFAULT_TEST_NOW
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"TEST_NOW={text!r} needs a UTC offset, e.g. {DEFAULT_TEST_NOW}")
    return instant.astimezone(UTC)


test_now.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name

TEST_NOW = test_now()


def wall_clock() -> datetime:
    """The real time, for what is outside the clinic's clock: the Twilio sandbox stamps
    its messages with it, as Twilio does."""
    return datetime.now(UTC)


class StaffAuth(httpx.Auth):
    """Signs each request with a staff token minted on ``clock``, the one the service
    checks it against: however far a test moves time, the token is fresh. A request
    that carries its own ``Authorization`` (another role, say) keeps it."""

    def __init__(
        self,
        secret: str,
        clock: Clock,
        role: Role = Role.ADMIN,
        *,
        subject: str = "desk@clinic.example",
        practitioner_id: str | None = None,
        ttl: timedelta = timedelta(hours=1),
    ) -> None:
        self._secret, self._clock, self._role = secret, clock, role
        self._subject, self._practitioner_id, self._ttl = subject, practitioner_id, ttl

    def token(self) -> str:
        return issue_staff_token(
            self._secret,
            subject=self._subject,
            role=self._role,
            now=self._clock.now(),
            ttl=self._ttl,
            practitioner_id=self._practitioner_id,
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.setdefault("Authorization", f"Bearer {self.token()}")
        yield request
