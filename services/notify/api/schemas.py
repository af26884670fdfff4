"""What notify's API reads and answers: the message log and the SMS templates."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from notify.use_cases import message_log
from shared.auth import Role, StaffUser
from shared.contracts.notify import MessageKind, MessageStatus
from shared.observability import mask_phone

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
    kind: MessageKind
    language: str | None
    body: str
    carries: list[str]
    due_at: datetime
    expires_at: datetime | None
    status: MessageStatus
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
            if message.kind == MessageKind.INVITATION
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


class TemplateOut(BaseModel):
    language: str
    kind: MessageKind
    body: str
    #: The clinic's own text rather than the default.
    customized: bool


class TemplateIn(BaseModel):
    body: str = Field(min_length=1, max_length=2000)


class TemplateSaved(TemplateOut):
    #: The template rendered against sample facts.
    sample: str
