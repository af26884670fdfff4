"""Consumed event type -> use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from notify.settings import NotifySettings
from notify.use_cases import scheduling
from shared.consumer import Handlers
from shared.contracts import booking
from shared.contracts.plans import (
    PatientErased,
    PatientRegistered,
    PatientUpdated,
    PlanCancelled,
    WindowsWithdrawn,
)
from shared.events import Event
from shared.service import Runtime


def handlers(runtime: Runtime[NotifySettings]) -> Handlers:
    settings = runtime.settings
    clinic = scheduling.Clinic(name=settings.clinic_name, time_zone=settings.clinic_time_zone)

    async def keep_patient(session: AsyncSession, event: Event[Any]) -> None:
        await scheduling.keep_patient(
            session, contact=event.data, clinic=clinic, now=runtime.clock.now()
        )

    async def erase_patient(session: AsyncSession, event: Event[Any]) -> None:
        await scheduling.erase_patient(
            session, patient_id=event.data.patient_id, now=runtime.clock.now()
        )

    async def appointment_changed(session: AsyncSession, event: Event[Any]) -> None:
        await scheduling.apply_appointment_change(
            session, change=type(event.data), snapshot=event.data, clinic=clinic,
            now=runtime.clock.now(),
        )  # fmt: skip

    async def text_invitation(session: AsyncSession, event: Event[Any]) -> None:
        await scheduling.schedule_invitation(
            session, invitation=event.data, clinic=clinic, now=runtime.clock.now()
        )

    async def text_offer(session: AsyncSession, event: Event[Any]) -> None:
        await scheduling.schedule_offer(
            session, offer=event.data, clinic=clinic, now=runtime.clock.now()
        )

    async def offer_closed(session: AsyncSession, event: Event[Any]) -> None:
        await scheduling.close_offer(session, closed=event.data, now=runtime.clock.now())

    async def sessions_withdrawn(session: AsyncSession, event: Event[Any]) -> None:
        await scheduling.withdraw_plan_invitations(
            session, plan_id=event.data.plan_id, session_numbers=event.data.session_numbers,
            why="the session is no longer scheduled (the plan was paused or changed)",
            now=runtime.clock.now(),
        )  # fmt: skip

    async def plan_cancelled(session: AsyncSession, event: Event[Any]) -> None:
        await scheduling.withdraw_plan_invitations(
            session, plan_id=event.data.plan_id, session_numbers=None,
            why="the plan was cancelled", now=runtime.clock.now(),
        )  # fmt: skip

    table: dict[Any, Callable[[AsyncSession, Event[Any]], Awaitable[None]]] = {
        PatientRegistered: keep_patient,
        PatientUpdated: keep_patient,
        PatientErased: erase_patient,
        booking.BookingInvitationIssued: text_invitation,
        booking.OfferMade: text_offer,
        WindowsWithdrawn: sessions_withdrawn,
        PlanCancelled: plan_cancelled,
    }
    table.update(dict.fromkeys(booking.APPOINTMENT_EVENTS, appointment_changed))
    table.update(dict.fromkeys(booking.OFFER_CLOSED_EVENTS, offer_closed))
    return table
