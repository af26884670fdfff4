"""The message log staff see. Practitioners see phone numbers masked; nobody sees the
token of a self-booking link, which only the patient's SMS should carry."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from notify.api.deps import SessionDep
from notify.api.schemas import MessageOut
from notify.use_cases import message_log
from shared.api import DeskDep, StaffDep
from shared.contracts.notify import MessageStatus

router = APIRouter(prefix="/v1", tags=["messages"])


@router.get("/messages")
async def list_messages(
    session: SessionDep,
    viewer: StaffDep,
    patient_id: uuid.UUID | None = None,
    appointment_id: uuid.UUID | None = None,
    status: list[MessageStatus] | None = Query(None),  # noqa: B008 - FastAPI's way to repeat it
) -> list[MessageOut]:
    """Messages, newest first, filtered by patient, appointment or status."""
    found = await message_log.list_messages(
        session, patient_id=patient_id, appointment_id=appointment_id, statuses=status
    )
    return [MessageOut.of(logged, viewer) for logged in found]


@router.get("/messages/attention")
async def messages_needing_attention(session: SessionDep, viewer: DeskDep) -> list[MessageOut]:
    """Failed, undelivered and unknown messages: the patient may not have been told."""
    found = await message_log.needing_attention(session)
    return [MessageOut.of(logged, viewer) for logged in found]


@router.get("/patients/{patient_id}/messages")
async def patient_messages(
    patient_id: uuid.UUID, session: SessionDep, viewer: StaffDep
) -> list[MessageOut]:
    """One patient's message log, newest first."""
    found = await message_log.list_messages(session, patient_id=patient_id)
    return [MessageOut.of(logged, viewer) for logged in found]


@router.get("/appointments/{appointment_id}/messages")
async def appointment_messages(
    appointment_id: uuid.UUID, session: SessionDep, viewer: StaffDep
) -> list[MessageOut]:
    """One appointment's message log, newest first (replaced ones included)."""
    found = await message_log.list_messages(session, appointment_id=appointment_id)
    return [MessageOut.of(logged, viewer) for logged in found]
