"""The message log staff see."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from notify import messages
from shared.api import RuntimeDep, StaffDep

router = APIRouter(prefix="/v1", tags=["messages"])


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    appointment_id: uuid.UUID | None
    appointment_version: int | None
    kind: str
    body: str
    due_at: datetime
    status: str
    status_reason: str | None
    error_code: int | None
    twilio_sid: str | None
    sent_at: datetime | None
    updated_at: datetime


@router.get("/messages")
async def list_messages(
    runtime: RuntimeDep,
    _: StaffDep,
    patient_id: uuid.UUID | None = None,
    appointment_id: uuid.UUID | None = None,
) -> list[MessageOut]:
    """Messages, newest first, filtered by patient or appointment."""
    async with runtime.sessions() as session:
        found = await messages.list_messages(
            session, patient_id=patient_id, appointment_id=appointment_id
        )
    return [MessageOut.model_validate(m) for m in found]
