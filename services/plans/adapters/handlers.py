"""Consumed event type -> use case: the plan follows booking's appointments, and a
patient's consent follows their STOP / START replies."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plans.settings import PlansSettings
from plans.use_cases import appointments, patients
from shared.consumer import Handlers
from shared.contracts.booking import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentConfirmed,
    AppointmentNoShow,
    AppointmentRescheduled,
)
from shared.contracts.notify import SmsConsentChanged
from shared.events import Event
from shared.service import Runtime


def handlers(runtime: Runtime[PlansSettings]) -> Handlers:
    async def mark_booked(session: AsyncSession, event: Event[Any]) -> None:
        await appointments.session_booked(session, appointment=event.data)

    async def count_done(session: AsyncSession, event: Event[Any]) -> None:
        await appointments.session_done(session, appointment=event.data, now=runtime.clock.now())

    async def reopen_after_no_show(session: AsyncSession, event: Event[Any]) -> None:
        await appointments.session_missed_or_cancelled(
            session, appointment=event.data, no_show=True, now=runtime.clock.now()
        )

    async def reopen_after_cancellation(session: AsyncSession, event: Event[Any]) -> None:
        await appointments.session_missed_or_cancelled(
            session, appointment=event.data, no_show=False, now=runtime.clock.now()
        )

    async def follow_sms_reply(session: AsyncSession, event: Event[Any]) -> None:
        await patients.follow_sms_reply(session, change=event.data, now=runtime.clock.now())

    return {
        SmsConsentChanged: follow_sms_reply,
        AppointmentBooked: mark_booked,
        AppointmentConfirmed: mark_booked,
        AppointmentRescheduled: mark_booked,
        AppointmentCheckedIn: mark_booked,
        AppointmentCompleted: count_done,
        AppointmentNoShow: reopen_after_no_show,
        AppointmentCancelled: reopen_after_cancellation,
    }
