"""booking's unit of work and in-service message bus.

A use case loads aggregates through the unit of work, calls one method on them and
hands over to :meth:`UnitOfWork.commit`: what the aggregates recorded goes to the
reactions registered for each event type (booking.use_cases.reactions, the one place), in the same
transaction, until none is left (a reaction's own changes record more). The edge (a
route, a consumer, the sweeper) owns the transaction and commits it after.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Appointment, BookingRequest
from booking.domain.errors import Unknown
from booking.domain.events import DomainEvent, Recorder
from booking.settings import BookingSettings
from shared.db import Db, orm

T = TypeVar("T", bound=Recorder)
Reaction = Callable[["UnitOfWork", Any], Awaitable[None]]
Reactions = Mapping[type, Sequence[Reaction]]


@dataclass
class UnitOfWork:
    """One transaction's aggregates and the reactions to what they record."""

    #: The transaction: a session's, or a pooled one whose ORM session is made only when
    #: a path needs it (the booking path's plain statements take ``db``).
    db: Db
    settings: BookingSettings
    now: datetime
    reactions: Reactions
    _seen: list[Recorder] = field(default_factory=list)

    @property
    def session(self) -> AsyncSession:
        """The transaction's ORM session."""
        return orm(self.db)

    def add(self, aggregate: T) -> T:
        """Watch ``aggregate`` for the events it records (loaded or made elsewhere)."""
        self._seen.append(aggregate)
        return aggregate

    async def appointment(
        self, appointment_id: uuid.UUID, *, patient_id: uuid.UUID | None = None
    ) -> Appointment:
        """The appointment, locked for this transaction (``patient_id``: only theirs)."""
        appointment = await self.session.get(Appointment, appointment_id, with_for_update=True)
        if appointment is None or (patient_id is not None and appointment.patient_id != patient_id):
            raise Unknown(f"no appointment {appointment_id}")
        return self.add(appointment)

    async def request(self, request_id: uuid.UUID) -> BookingRequest | None:
        """A session's booking request (the caller locked its course when it matters)."""
        request = await self.session.get(BookingRequest, request_id)
        return self.add(request) if request is not None else None

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: if it rolls back, so does what was recorded in it."""
        seen = len(self._seen)
        counts = [aggregate.recorded_count() for aggregate in self._seen]
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._seen[seen:]
            for aggregate, count in zip(self._seen, counts, strict=True):
                aggregate.forget_since(count)
            raise

    async def commit(self) -> None:
        """Hand every recorded event to its reactions, oldest first, until none is left."""
        while events := [event for seen in self._seen for event in seen.take_recorded()]:
            for event in events:
                await self._react(event)

    async def _react(self, event: DomainEvent) -> None:
        for reaction in self.reactions.get(type(event), ()):
            await reaction(self, event)
