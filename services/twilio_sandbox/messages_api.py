"""Twilio's Messages API: ``/2010-04-01/Accounts/{AccountSid}/Messages[/{Sid}].json``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from twilio_sandbox import errors
from twilio_sandbox.context import Sandbox
from twilio_sandbox.numbers import mask
from twilio_sandbox.paging import build_page
from twilio_sandbox.resources import API_VERSION, messages_uri
from twilio_sandbox.store import FaultKind
from twilio_sandbox.validation import parse_create, parse_list

logger = logging.getLogger(__name__)


def _credentials(request: Request) -> tuple[bytes, bytes] | None:
    """(username, password) of an HTTP Basic ``Authorization`` header, if well formed."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, separator, password = decoded.partition(b":")
    return (username, password) if separator else None


def authenticate(request: Request, account_sid: str, sandbox: Sandbox) -> None:
    """Require Basic auth with the sandbox's account SID and token, for that account's URL."""
    config = sandbox.config
    credentials = _credentials(request)
    if credentials is None:
        raise errors.authentication_failed()
    username, password = credentials
    # Evaluate every comparison so timing does not reveal which part was wrong.
    checks = [
        hmac.compare_digest(username, config.account_sid.encode()),
        hmac.compare_digest(password, config.auth_token.encode()),
        hmac.compare_digest(account_sid.encode(), config.account_sid.encode()),
    ]
    if not all(checks):
        raise errors.authentication_failed()


async def _form_fields(request: Request) -> dict[str, str]:
    """The request's form fields (the last value of a repeated one, as Starlette's ``form()``).

    The twilio SDK posts ``application/x-www-form-urlencoded``: parsed directly, which is
    several times cheaper than Starlette's general multipart-capable parser.
    """
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        body = (await request.body()).decode("latin-1")
        return dict(parse_qsl(body, keep_blank_values=True))
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def messages_router(sandbox: Sandbox) -> APIRouter:
    """Routes for creating, fetching and listing messages."""
    router = APIRouter(prefix=f"/{API_VERSION}/Accounts/{{account_sid}}", tags=["twilio"])
    store = sandbox.store

    @router.post("/Messages.json", status_code=201)
    async def create_message(account_sid: str, request: Request) -> JSONResponse:
        """Send an SMS (stored, then delivered in the background)."""
        authenticate(request, account_sid, sandbox)
        fault = store.take_fault()
        if fault is not None and fault.kind is FaultKind.RATE_LIMIT:
            logger.info("injected fault: answering 429 to a create request")
            raise errors.too_many_requests()
        if fault is not None and fault.kind is FaultKind.SERVER_ERROR:
            logger.info("injected fault: answering 500 to a create request")
            raise errors.internal_error()

        create = parse_create(await _form_fields(request))
        if store.is_opted_out(create.to):
            raise errors.unsubscribed_recipient()
        message = store.accept_outbound(
            to=create.to,
            from_=create.from_,
            body=create.body,
            messaging_service_sid=create.messaging_service_sid,
            status_callback=create.status_callback,
            validity_period=create.validity_period,
        )
        sandbox.simulator.start(message)
        # DEBUG: one line per SMS costs more than the rest of the request at bench rates.
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "accepted %s to %s (%d segment(s))",
                message.sid, mask(message.to), message.num_segments,
            )  # fmt: skip
        # The response describes the message as it was accepted, even when delayed.
        resource = message.to_resource()
        if fault is not None and fault.kind is FaultKind.SLOW_ACCEPT:
            logger.info("injected fault: delaying the response by %.1fs", fault.delay_seconds)
            await asyncio.sleep(fault.delay_seconds)
        return JSONResponse(resource, status_code=201)

    @router.get("/Messages.json")
    async def list_messages(account_sid: str, request: Request) -> JSONResponse:
        """List messages newest first, filtered and paged like Twilio."""
        authenticate(request, account_sid, sandbox)
        query = parse_list(request.query_params)
        matching = store.search(query.message_filter)
        return JSONResponse(build_page(matching, query, messages_uri(account_sid)))

    @router.get("/Messages/{sid}.json")
    async def fetch_message(account_sid: str, sid: str, request: Request) -> JSONResponse:
        """Fetch one message by SID."""
        authenticate(request, account_sid, sandbox)
        message = store.get(sid)
        if message is None:
            raise errors.not_found(request.url.path)
        return JSONResponse(message.to_resource())

    return router
