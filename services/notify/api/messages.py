"""The message log staff see. Practitioners see phone numbers masked; nobody sees the
token of a self-booking link, which only the patient's SMS should carry."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from notify.use_cases import message_log
from shared.api import DeskDep, RuntimeDep, StaffDep
from shared.auth import Role, StaffUser
from shared.observability import mask_phone

router = APIRouter(prefix="/v1", tags=["messages"])

_LINK = re.compile(r"https?://\S+")
#: Roles that call patients back, and so see their full numbers.
SEES_PHONES = frozenset({Role.ADMIN, Role.STAFF})


class MessageOut(BaseModel):
    """One SMS as the log shows it."""

    id: uuid.UUID
    patient_id: uuid.UUID
    #: The patient's name as notify knows it (None once the patient is erased).
    patient_name: str | None
    appointment_id: uuid.UUID | None
    appointment_version: int | None
    kind: str
    language: str | None
    body: str
    carries: list[str]
    due_at: datetime
    expires_at: datetime | None
    status: str
    status_reason: str | None
    error_code: int | None
    attempts: int
    to: str | None
    twilio_sid: str | None
    attempted_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, logged: message_log.Logged, viewer: StaffUser) -> MessageOut:
        message, patient_name = logged
        to = message.sent_to
        if to is not None and viewer.role not in SEES_PHONES:
            to = mask_phone(to)
        return cls(
            id=message.id,
            patient_id=message.patient_id,
            patient_name=patient_name,
            appointment_id=message.appointment_id,
            appointment_version=message.appointment_version,
            kind=message.kind,
            language=message.language,
            body=_LINK.sub("[link]", message.body)
            if message.kind == "invitation"
            else message.body,
            carries=list(message.carries or []),
            due_at=message.due_at,
            expires_at=message.expires_at,
            status=message.status,
            status_reason=message.status_reason,
            error_code=message.error_code,
            attempts=message.attempts,
            to=to,
            twilio_sid=message.twilio_sid,
            attempted_at=message.attempted_at,
            sent_at=message.sent_at,
            created_at=message.created_at,
            updated_at=message.updated_at,
        )


@router.get("/messages")
async def list_messages(
    runtime: RuntimeDep,
    viewer: StaffDep,
    patient_id: uuid.UUID | None = None,
    appointment_id: uuid.UUID | None = None,
    status: list[str] | None = Query(None),  # noqa: B008 - FastAPI's way to repeat a param
) -> list[MessageOut]:
    """Messages, newest first, filtered by patient, appointment or status."""
    async with runtime.sessions() as session:
        found = await message_log.list_messages(
            session, patient_id=patient_id, appointment_id=appointment_id, statuses=status
        )
    return [MessageOut.of(logged, viewer) for logged in found]


@router.get("/messages/attention")
async def messages_needing_attention(runtime: RuntimeDep, viewer: DeskDep) -> list[MessageOut]:
    """Failed, undelivered and unknown messages: the patient may not have been told."""
    async with runtime.sessions() as session:
        found = await message_log.needing_attention(session)
    return [MessageOut.of(logged, viewer) for logged in found]


@router.get("/patients/{patient_id}/messages")
async def patient_messages(
    patient_id: uuid.UUID, runtime: RuntimeDep, viewer: StaffDep
) -> list[MessageOut]:
    """One patient's message log, newest first."""
    async with runtime.sessions() as session:
        found = await message_log.list_messages(session, patient_id=patient_id)
    return [MessageOut.of(logged, viewer) for logged in found]


@router.get("/appointments/{appointment_id}/messages")
async def appointment_messages(
    appointment_id: uuid.UUID, runtime: RuntimeDep, viewer: StaffDep
) -> list[MessageOut]:
    """One appointment's message log, newest first (replaced ones included)."""
    async with runtime.sessions() as session:
        found = await message_log.list_messages(session, appointment_id=appointment_id)
    return [MessageOut.of(logged, viewer) for logged in found]
