"""The one door to Twilio: the official SDK's async client, real or pointed at the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from notify.settings import NotifySettings

# Twilio errors worth another try later; everything else is final.
RETRYABLE_CODES = {20429}
RETRYABLE_STATUSES = {429}


@dataclass(frozen=True)
class Accepted:
    """Twilio took the message: its SID and first status."""

    sid: str
    status: str


class SmsRejected(Exception):
    """Twilio refused the message; ``retryable`` when trying later may succeed."""

    def __init__(self, code: int | None, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = code in RETRYABLE_CODES or status in RETRYABLE_STATUSES


class SmsGateway(Protocol):
    async def send(
        self, *, to: str, body: str, status_callback: str | None, validity_seconds: int | None
    ) -> Accepted: ...

    async def close(self) -> None: ...


class TwilioGateway:
    """Sends through the official twilio SDK (async)."""

    def __init__(self, settings: NotifySettings) -> None:
        self._http = AsyncTwilioHttpClient()
        self._client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            http_client=self._http,
        )
        if settings.twilio_api_base_url:
            self._client.api.base_url = settings.twilio_api_base_url.rstrip("/")
        self._from = settings.twilio_from_number

    async def send(
        self, *, to: str, body: str, status_callback: str | None, validity_seconds: int | None
    ) -> Accepted:
        options: dict[str, object] = {}
        if status_callback:
            options["status_callback"] = status_callback
        if validity_seconds is not None:
            options["validity_period"] = max(1, min(validity_seconds, 36000))
        try:
            message = await self._client.messages.create_async(
                to=to, from_=self._from, body=body, **options
            )
        except TwilioRestException as error:
            raise SmsRejected(error.code, error.status, error.msg) from error
        return Accepted(sid=message.sid, status=message.status)

    async def close(self) -> None:
        await self._http.close()
