"""Twilio's calls to us: delivery status callbacks. Refused without a valid signature."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from twilio.request_validator import RequestValidator

from notify.db import Message
from notify.dispatcher import add_status_event
from notify.settings import NotifySettings
from shared.api import RuntimeDep
from shared.problems import Problem

router = APIRouter(prefix="/v1/twilio", tags=["twilio"])

STATUS_CALLBACK_PATH = "/v1/twilio/status"

# Status only moves forward: a late or repeated callback never undoes a newer one.
STATUS_RANK = {
    "pending": 0,
    "sending": 1,
    "unknown": 1,
    "queued": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
}


async def signed_form(request: Request, settings: NotifySettings) -> dict[str, str]:
    """The webhook's form fields, once its X-Twilio-Signature checks out (else 403)."""
    form = {key: str(value) for key, value in (await request.form()).items()}
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    signature = request.headers.get("x-twilio-signature", "")
    if not validator.validate(url, form, signature):
        raise Problem(403, "Forbidden", "missing or invalid X-Twilio-Signature")
    return form


@router.post("/status", include_in_schema=False)
async def status_callback(request: Request, runtime: RuntimeDep) -> Response:
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    form = await signed_form(request, settings)
    sid, status = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or status not in STATUS_RANK:
        raise Problem(400, "Bad callback", "MessageSid and a known MessageStatus are required")
    now = runtime.clock.now()
    async with runtime.sessions.begin() as session:
        message = await session.scalar(
            sa.select(Message).where(Message.twilio_sid == sid).with_for_update()
        )
        if message is None:  # not ours, or already erased: acknowledge, nothing to do
            return Response(status_code=204)
        if STATUS_RANK[status] > STATUS_RANK.get(message.status, 0):
            message.status = status
            message.updated_at = now
            if form.get("ErrorCode"):
                message.error_code = int(form["ErrorCode"])
            await session.flush()
            await add_status_event(session, message_id=message.id, now=now)
    return Response(status_code=204)
