"""Domain events: what an aggregate's method records, for the message bus to act on.

An aggregate records events as it changes (:meth:`Recorder.record`); the unit of work
takes them (:meth:`Recorder.take_recorded`) once the use case's one call is done, and
the bus hands each to the reactions registered for its type (booking.use_cases.reactions),
in the same transaction.
They are in-process facts, not the contracts other services read: a reaction turns
them into those (the outbox) where the change is news to them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from booking.domain.lifecycle import Action

#: Where an aggregate keeps what it recorded (a plain attribute: never persisted).
_RECORDED = "_recorded_events"


@dataclass(frozen=True)
class AppointmentMade:
    """A new appointment holds or books a session's time (``appointment.status``); its
    request is taken (held or booked). ``announcement``: its event and its request's new
    status, still to be written (None: its insert wrote them)."""

    appointment: Any
    request: Any
    announcement: Any = None


@dataclass(frozen=True)
class AppointmentStepped:
    """An appointment went one step of its life (book a hold, confirm, cancel...)."""

    appointment: Any
    action: Action


@dataclass(frozen=True)
class TimeKept:
    """A practitioner's and a room's time an appointment kept."""

    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def of(cls, appointment: Any) -> TimeKept:
        return cls(
            appointment.practitioner_id, appointment.room_id, appointment.location_id,
            appointment.starts_at, appointment.ends_at,
        )  # fmt: skip


@dataclass(frozen=True)
class AppointmentMoved:
    """An appointment moved to another time (or practitioner, or room), leaving ``left``."""

    appointment: Any
    left: TimeKept


DomainEvent = AppointmentMade | AppointmentStepped | AppointmentMoved


class Recorder:
    """Mixed into every aggregate: the events its methods record, until the unit of work
    takes them. Kept in a plain attribute, never persisted."""

    def record(self, event: DomainEvent) -> None:
        """Note ``event`` for the unit of work to take."""
        self.__dict__.setdefault(_RECORDED, []).append(event)

    def take_recorded(self) -> list[DomainEvent]:
        """What was recorded since the last time this was asked, oldest first."""
        events: list[DomainEvent] = self.__dict__.pop(_RECORDED, [])
        return events

    def forget_since(self, count: int) -> None:
        """Drop what was recorded after the first ``count`` events (a savepoint the
        aggregate changed in rolled back)."""
        del self.__dict__.get(_RECORDED, [])[count:]

    def recorded_count(self) -> int:
        return len(self.__dict__.get(_RECORDED, []))
