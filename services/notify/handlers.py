"""Consumed event type -> use case."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from notify import messages
from notify.settings import NotifySettings
from shared.consumer import Handlers
from shared.contracts.booking import AppointmentBooked
from shared.contracts.plans import PatientRegistered, PatientUpdated
from shared.events import Event
from shared.service import Runtime


def handlers(runtime: Runtime) -> Handlers:
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)

    async def keep_patient(session: AsyncSession, event: Event[Any]) -> None:
        await messages.keep_patient(session, contact=event.data)

    async def confirm_booking(session: AsyncSession, event: Event[Any]) -> None:
        await messages.keep_appointment(session, snapshot=event.data)
        await messages.schedule_confirmation(
            session, snapshot=event.data, clinic=settings.clinic_name, now=runtime.clock.now()
        )

    return {
        PatientRegistered: keep_patient,
        PatientUpdated: keep_patient,
        AppointmentBooked: confirm_booking,
    }
