"""Consumed event type -> use case."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from booking import use_cases
from shared.consumer import Handlers
from shared.contracts.plans import CycleScheduled, PatientRegistered, PatientUpdated
from shared.events import Event
from shared.service import Runtime


def handlers(runtime: Runtime) -> Handlers:
    async def keep_patient(session: AsyncSession, event: Event[Any]) -> None:
        await use_cases.keep_patient(session, contact=event.data)

    async def open_booking_requests(session: AsyncSession, event: Event[Any]) -> None:
        await use_cases.open_booking_requests(session, cycle=event.data, now=runtime.clock.now())

    return {
        PatientRegistered: keep_patient,
        PatientUpdated: keep_patient,
        CycleScheduled: open_booking_requests,
    }
