"""Twilio's calls to us: delivery status callbacks and patients' SMS.

Both are refused (403) without a valid X-Twilio-Signature, checked with the SDK's
RequestValidator against the URL Twilio called (our configured public URL).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from twilio.request_validator import RequestValidator

from notify.api.deps import RuntimeDep
from notify.domain import status
from notify.settings import NotifySettings
from notify.use_cases.deliveries import record_twilio_status
from notify.use_cases.replies import receive_sms
from notify.use_cases.scheduling import Clinic
from shared.problems import Problem

router = APIRouter(prefix="/v1/twilio", tags=["twilio"])

STATUS_CALLBACK_PATH = "/v1/twilio/status"
#: An empty TwiML answer: replies go through the dispatcher, logged like any message.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


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
    """A message moved on at Twilio (queued, sent, delivered, undelivered, failed)."""
    form = await signed_form(request, runtime.settings)
    sid, twilio_status = form.get("MessageSid"), form.get("MessageStatus", "")
    if not sid or twilio_status not in status.TWILIO_STATUSES:
        raise Problem(400, "Bad callback", "MessageSid and a known MessageStatus are required")
    error_code = form.get("ErrorCode")
    if error_code is not None and not error_code.isdigit():
        raise Problem(400, "Bad callback", "ErrorCode must be a number")
    message_id = _uuid_or_none(request.query_params.get("message"))
    async with runtime.sessions.begin() as session:
        await record_twilio_status(
            session,
            sid=sid,
            twilio_status=twilio_status,
            error_code=int(error_code) if error_code else None,
            message_id=message_id,
            now=runtime.clock.now(),
        )
    return Response(status_code=204)


@router.post("/inbound", include_in_schema=False)
async def inbound_sms(request: Request, runtime: RuntimeDep) -> Response:
    """A patient texted the clinic: STOP/START, HELP, C (confirm) or R (reschedule)."""
    settings = runtime.settings
    form = await signed_form(request, settings)
    sid, sender = form.get("MessageSid"), form.get("From")
    if not sid or not sender:
        raise Problem(400, "Bad inbound SMS", "MessageSid and From are required")
    async with runtime.sessions.begin() as session:
        await receive_sms(
            session,
            sid=sid,
            sender=sender,
            body=form.get("Body", ""),
            clinic=Clinic(name=settings.clinic_name, time_zone=settings.clinic_time_zone),
            now=runtime.clock.now(),
        )
    return Response(EMPTY_TWIML, media_type="application/xml")


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
