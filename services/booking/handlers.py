"""Consumed event type -> use case."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from booking.settings import BookingSettings
from booking.use_cases import patients, requests
from shared.consumer import Handlers
from shared.contracts.notify import ConfirmationReceived, MessageStatusChanged, RescheduleRequested
from shared.contracts.plans import (
    CycleScheduled,
    PatientErased,
    PatientRegistered,
    PatientUpdated,
    PlanCancelled,
    WindowsChanged,
    WindowsWithdrawn,
)
from shared.events import Event
from shared.service import Runtime


def handlers(runtime: Runtime) -> Handlers:
    settings = runtime.settings
    assert isinstance(settings, BookingSettings)
    clock = runtime.clock

    async def keep_patient(session: AsyncSession, event: Event[Any]) -> None:
        await patients.keep_patient(session, contact=event.data)

    async def erase_patient(session: AsyncSession, event: Event[Any]) -> None:
        await patients.erase_patient(session, patient_id=event.data.patient_id)

    async def open_booking_requests(session: AsyncSession, event: Event[Any]) -> None:
        await requests.open_booking_requests(
            session, cycle=event.data, settings=settings, now=clock.now()
        )

    async def move_windows(session: AsyncSession, event: Event[Any]) -> None:
        await requests.move_windows(session, change_=event.data, settings=settings, now=clock.now())

    async def withdraw_windows(session: AsyncSession, event: Event[Any]) -> None:
        await requests.withdraw_windows(session, withdrawn=event.data, now=clock.now())

    async def cancel_plan(session: AsyncSession, event: Event[Any]) -> None:
        await requests.cancel_plan(session, cancelled=event.data, now=clock.now())

    async def confirm_by_reply(session: AsyncSession, event: Event[Any]) -> None:
        await patients.confirm_by_reply(
            session, reply=event.data, settings=settings, now=clock.now()
        )

    async def invite_to_reschedule(session: AsyncSession, event: Event[Any]) -> None:
        await patients.invite_to_reschedule(
            session, request_=event.data, settings=settings, now=clock.now()
        )

    async def record_message_status(session: AsyncSession, event: Event[Any]) -> None:
        await patients.record_message_status(session, status=event.data)

    return {
        PatientRegistered: keep_patient,
        PatientUpdated: keep_patient,
        PatientErased: erase_patient,
        CycleScheduled: open_booking_requests,
        WindowsChanged: move_windows,
        WindowsWithdrawn: withdraw_windows,
        PlanCancelled: cancel_plan,
        ConfirmationReceived: confirm_by_reply,
        RescheduleRequested: invite_to_reschedule,
        MessageStatusChanged: record_message_status,
    }
