"""The appointment aggregate: every rule of its life once it is made, with no I/O.

:class:`AppointmentRules` is mixed into the stored appointment (booking.adapters.db): its methods
check the rules, change the state, bump the version and record what happened
(:class:`booking.domain.events.Recorder`) for the message bus. Time is passed in.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from booking.domain.errors import StateConflict
from booking.domain.events import (
    AppointmentMoved,
    AppointmentStepped,
    DomainEvent,
    Recorder,
    TimeKept,
)
from booking.domain.lifecycle import Action, InvalidTransition, check_timing, next_status
from shared.contracts.booking import AppointmentStatus


class AppointmentState(Protocol):
    """What the rules read and write of an appointment."""

    id: uuid.UUID
    version: int
    status: str
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    blocked_from: datetime
    blocked_until: datetime
    updated_at: datetime
    hold_expires_at: datetime | None
    changed_by: str | None
    reason: str | None

    def record(self, event: DomainEvent) -> None: ...


class AppointmentRules(Recorder):
    """The appointment's methods (mixed into booking.adapters.db.Appointment)."""

    if TYPE_CHECKING:  # what they set, as the store types it (never seen at runtime)
        version: int
        status: str
        updated_at: datetime
        hold_expires_at: datetime | None
        changed_by: str | None
        reason: str | None

    def check_version(self: AppointmentState, expected: int | None) -> None:
        """Refuse a change made from an older reading of the appointment."""
        if expected is not None and self.version != expected:
            raise StateConflict(
                f"the appointment is at version {self.version}, not {expected}; "
                "reload it and try again",
                version=self.version,
            )

    def check_not_too_late(
        self: AppointmentState, cutoff: timedelta, *, now: datetime, change: str
    ) -> None:
        """Refuse a patient's change (``change``: "cancelled", "moved") within the clinic's
        cut-off before the session."""
        if self.starts_at - now < cutoff:
            raise StateConflict(
                f"an appointment cannot be {change} online less than {hours(cutoff)} "
                "before it; please call the clinic"
            )

    def take_step(
        self: AppointmentState,
        action: Action,
        *,
        now: datetime,
        by: str,
        reason: str | None = None,
    ) -> None:
        """Move one step of its life (book a hold, confirm, check in, complete, mark a
        no-show, cancel, expire); refused when the step does not apply now."""
        if (
            action is Action.BOOK
            and self.hold_expires_at is not None
            and self.hold_expires_at <= now
        ):
            raise StateConflict(f"the hold expired at {self.hold_expires_at.isoformat()}")
        try:
            status = next_status(AppointmentStatus(self.status), action)
            check_timing(action, starts_at=self.starts_at, now=now)
        except InvalidTransition as refused:
            refused.facts["current_status"] = self.status
            raise
        self.status = status
        self.version += 1
        self.updated_at = now
        self.changed_by = by
        self.reason = reason
        if status != AppointmentStatus.HELD:
            self.hold_expires_at = None
        self.record(AppointmentStepped(self, action))

    def check_movable(self: AppointmentState) -> AppointmentStatus:
        """The status a move leads to (a confirmed appointment is to be confirmed again),
        or refused: only a held, booked or confirmed appointment moves."""
        try:
            return next_status(AppointmentStatus(self.status), Action.RESCHEDULE)
        except InvalidTransition as refused:
            refused.facts["current_status"] = self.status
            raise

    def moved(self: AppointmentState, left: TimeKept) -> None:
        """Record a move the store made (new time, practitioner and room, version bumped),
        from the time it ``left``: PostgreSQL judged the new time free as it wrote it."""
        self.record(AppointmentMoved(self, left))


def hours(span: timedelta) -> str:
    """A span as people say it: "24 h", "90 min"."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
