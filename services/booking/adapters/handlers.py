"""Consumed event type -> use case, each in a unit of work with booking's reactions.

A rule refusing an event's effect (booking.domain.errors) settles the event: its effect
is rolled back, the refusal logged, and the consumer goes on (a retry would be refused
again, and the event itself is sound, so it is no dead letter).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from booking.domain.errors import BookingRefused
from booking.settings import BookingSettings
from booking.use_cases import offers, patients, requests
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.report_model import with_read_model
from shared.consumer import Handler, Handlers
from shared.contracts.notify import (
    ConfirmationReceived,
    MessageStatusChanged,
    OfferRefused,
    QuietHoursChanged,
    RescheduleRequested,
)
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

log = logging.getLogger(__name__)

UseCase = Callable[[UnitOfWork, Any], Awaitable[object]]


def handlers(runtime: Runtime[BookingSettings]) -> Handlers:
    settings = runtime.settings

    def in_unit_of_work(use_case: UseCase) -> Handler:
        async def handle(session: AsyncSession, event: Event[Any]) -> None:
            uow = unit_of_work(session, settings, runtime.clock.now())
            try:
                async with session.begin_nested():
                    await use_case(uow, event.data)
            except BookingRefused as refused:
                log.info("%s %s changes nothing: %s", event.type, event.id, refused)

        return handle

    async def keep_patient(session: AsyncSession, event: Event[Any]) -> None:
        await patients.keep_patient(session, contact=event.data)

    async def erase_patient(session: AsyncSession, event: Event[Any]) -> None:
        await patients.erase_patient(session, patient_id=event.data.patient_id)

    pass_on_unreached_offer = in_unit_of_work(
        lambda uow, message: offers.unreached(uow, message=message)
    )

    async def record_message_status(session: AsyncSession, event: Event[Any]) -> None:
        await patients.record_message_status(session, status=event.data)
        await pass_on_unreached_offer(session, event)

    handled: Handlers = {
        PatientRegistered: keep_patient,
        PatientUpdated: keep_patient,
        PatientErased: erase_patient,
        CycleScheduled: in_unit_of_work(
            lambda uow, cycle: requests.open_booking_requests(uow, cycle=cycle)
        ),
        WindowsChanged: in_unit_of_work(
            lambda uow, change: requests.move_windows(uow, change_=change)
        ),
        WindowsWithdrawn: in_unit_of_work(
            lambda uow, withdrawn: requests.withdraw_windows(uow, withdrawn=withdrawn)
        ),
        PlanCancelled: in_unit_of_work(
            lambda uow, cancelled: requests.cancel_plan(uow, cancelled=cancelled)
        ),
        ConfirmationReceived: in_unit_of_work(
            lambda uow, reply: patients.confirm_by_reply(uow, reply=reply)
        ),
        RescheduleRequested: in_unit_of_work(
            lambda uow, asked: patients.invite_to_reschedule(uow, request_=asked)
        ),
        MessageStatusChanged: record_message_status,
        OfferRefused: in_unit_of_work(
            lambda uow, refused: offers.decline_by_sms(uow, refused=refused)
        ),
        QuietHoursChanged: in_unit_of_work(
            lambda uow, changed: offers.keep_quiet_hours(uow, changed=changed)
        ),
    }
    return with_read_model(handled)
