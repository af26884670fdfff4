"""The one door to Twilio: the official SDK's async client, real or pointed at the sandbox.

A send ends one of four ways, and the dispatcher treats each differently:
accepted (a SID), refused for now (429: safe to retry), refused for good (a Twilio error
code), or in doubt (timeout, 5xx, dropped connection: Twilio may have it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from notify.settings import NotifySettings

# Twilio errors worth another try later; everything else is final.
RETRYABLE_CODES = {20429}
RETRYABLE_STATUSES = {429}
#: Twilio keeps a message at most this long in its queue (ValidityPeriod's ceiling).
MAX_VALIDITY_SECONDS = 36_000


@dataclass(frozen=True)
class Accepted:
    """Twilio took the message: its SID and first status."""

    sid: str
    status: str


class SmsRejected(Exception):
    """Twilio answered with an error; ``retryable`` when trying later may succeed.

    A 5xx is neither: Twilio may have stored the message before failing, so the
    dispatcher treats it as a send in doubt.
    """

    def __init__(self, code: int | None, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = code in RETRYABLE_CODES or status in RETRYABLE_STATUSES
        self.in_doubt = status >= 500


class SendRefused(Exception):
    """The connection was refused: nothing left us, so trying again is safe."""


class SmsGateway(Protocol):
    async def send(
        self, *, to: str, body: str, status_callback: str | None, validity_seconds: int | None
    ) -> Accepted: ...

    async def find(self, *, to: str, body: str, known_sids: set[str]) -> Accepted | None: ...

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
        self._timeout = settings.send_timeout_seconds

    async def send(
        self, *, to: str, body: str, status_callback: str | None, validity_seconds: int | None
    ) -> Accepted:
        """Hand one SMS to Twilio; see the module docstring for how it can end."""
        options: dict[str, object] = {}
        if status_callback:
            options["status_callback"] = status_callback
        if validity_seconds is not None:
            options["validity_period"] = max(1, min(validity_seconds, MAX_VALIDITY_SECONDS))
        try:
            async with asyncio.timeout(self._timeout):
                message = await self._client.messages.create_async(
                    to=to, from_=self._from, body=body, **options
                )
        except TwilioRestException as error:
            raise SmsRejected(error.code, error.status, error.msg) from error
        except aiohttp.ClientConnectorError as error:
            raise SendRefused(str(error)) from error
        return Accepted(sid=message.sid, status=message.status)

    async def find(self, *, to: str, body: str, known_sids: set[str]) -> Accepted | None:
        """The message Twilio lists for ``to`` with this ``body`` that is not already ours."""
        async with asyncio.timeout(self._timeout):
            listed = await self._client.messages.list_async(to=to, limit=50)
        for message in listed:
            if message.body == body and message.sid not in known_sids:
                return Accepted(sid=message.sid, status=message.status)
        return None

    async def close(self) -> None:
        await self._http.close()
