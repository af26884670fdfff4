"""Domain events: what an aggregate's method records, for the message bus to act on.

An aggregate records events as it changes (:func:`record`); the unit of work takes them
(:func:`take_recorded`) once the use case's one call is done, and the bus hands each to
the reactions registered for its type (booking.use_cases.reactions), in the same transaction.
They are in-process facts, not the contracts other services read: a reaction turns
them into those (the outbox) where the change is news to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from booking.domain.lifecycle import Action

#: Where an aggregate keeps what it recorded (a plain attribute: never persisted).
_RECORDED = "_recorded_events"


@dataclass(frozen=True)
class AppointmentMade:
    """A new appointment holds or books a session's time (``appointment.status``); its
    request goes to ``request_status`` (held or booked)."""

    appointment: Any
    request: Any
    request_status: str


@dataclass(frozen=True)
class AppointmentStepped:
    """An appointment went one step of its life (book a hold, confirm, cancel...)."""

    appointment: Any
    action: Action


@dataclass(frozen=True)
class AppointmentMoved:
    """An appointment moved to another time (or practitioner, or room)."""

    appointment: Any


DomainEvent = AppointmentMade | AppointmentStepped | AppointmentMoved


def record(aggregate: object, event: DomainEvent) -> None:
    """Note ``event`` on ``aggregate`` for the unit of work to take."""
    aggregate.__dict__.setdefault(_RECORDED, []).append(event)


def take_recorded(aggregate: object) -> list[DomainEvent]:
    """What ``aggregate`` recorded since it was last asked, oldest first."""
    events: list[DomainEvent] = aggregate.__dict__.pop(_RECORDED, [])
    return events


def forget_since(aggregate: object, count: int) -> None:
    """Drop what ``aggregate`` recorded after its first ``count`` events (a savepoint it
    changed in rolled back)."""
    del aggregate.__dict__.get(_RECORDED, [])[count:]


def recorded_count(aggregate: object) -> int:
    return len(aggregate.__dict__.get(_RECORDED, []))
