"""Webhooks the sandbox sends the way Twilio does: form-encoded POSTs signed with
``X-Twilio-Signature`` (HMAC-SHA1 of the URL and sorted params, keyed by the auth token).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx
from twilio.request_validator import RequestValidator

from twilio_sandbox.numbers import region_of
from twilio_sandbox.resources import API_VERSION, FAILED_STATUSES, Message

SIGNATURE_HEADER = "X-Twilio-Signature"


def redact_url(url: str) -> str:
    """URL without query string or credentials, safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def status_callback_params(message: Message) -> dict[str, str]:
    """The form Twilio POSTs to a message's ``StatusCallback`` for its current status."""
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": message.sid,
        "MessageStatus": message.status.value,
        "SmsSid": message.sid,
        "SmsStatus": message.status.value,
        "To": message.to,
    }
    # A Messaging Service message has no sender until it is queued.
    if message.from_ is not None:
        params["From"] = message.from_
    if message.messaging_service_sid is not None:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if message.status in FAILED_STATUSES and message.error_code is not None:
        params["ErrorCode"] = str(message.error_code)
    return params


def inbound_webhook_params(message: Message, opt_out_type: str | None) -> dict[str, str]:
    """The form Twilio POSTs to a number's SMS webhook when a patient texts it.

    Twilio's geographic fields (FromCity, ToZip, ...) are only sent when known, so
    the sandbox sends just the country codes; empty values would only add noise.
    """
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "Body": message.body,
        "From": message.from_ or "",
        "MessageSid": message.sid,
        "NumMedia": "0",
        "NumSegments": str(message.num_segments),
        "SmsMessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsStatus": message.status.value,
        "To": message.to,
    }
    for name, number in (("FromCountry", message.from_ or ""), ("ToCountry", message.to)):
        country = region_of(number)
        if country:
            params[name] = country
    if opt_out_type is not None:
        params["OptOutType"] = opt_out_type
    return params


class WebhookSender:
    """Posts signed webhooks through one shared ``httpx.AsyncClient``."""

    def __init__(self, auth_token: str, *, timeout_seconds: float = 5.0) -> None:
        self._validator = RequestValidator(auth_token)
        self._timeout = timeout_seconds
        self._client: httpx.AsyncClient | None = None

    def signature(self, url: str, params: Mapping[str, str]) -> str:
        """``X-Twilio-Signature`` for a POST of ``params`` to ``url``."""
        return str(self._validator.compute_signature(url, dict(params)))

    async def post(self, url: str, params: Mapping[str, str]) -> httpx.Response:
        """POST ``params`` form-encoded and signed; raises ``httpx.HTTPError`` on I/O errors."""
        if self._client is None:
            # trust_env=False: webhooks target local services; a proxy from the
            # environment must not intercept them.
            self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False)
        headers = {
            SIGNATURE_HEADER: self.signature(url, params),
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        return await self._client.post(url, data=dict(params), headers=headers)

    async def aclose(self) -> None:
        """Close the HTTP client (a later ``post`` opens a new one)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
