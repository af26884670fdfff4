"""The one door to Twilio: the official SDK's async client, real or pointed at the sandbox.

A send ends one of four ways, and the dispatcher treats each differently:
accepted (a SID), refused for now (429, or a connection Twilio refused: safe to retry),
refused for good (a Twilio error code), or in doubt (timeout, 5xx, a connection dropped
after the request may have reached Twilio).

A send is not in doubt when its kept-alive connection died the way an idle one does: the
pool handed us a connection Twilio (or a proxy) had closed while it sat idle (notify was
paused, or the server's idle timeout is shorter than ours), and the request died on it
before any answer. The gateway then asks Twilio's list whether it has the message all the
same (found: that is the answer), else sends it again at once on a new connection. A
failure on a new connection stays in doubt, for the reconciler.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from notify.settings import NotifySettings
from shared import tracing
from shared.clock import SystemClock

log = logging.getLogger(__name__)

# Twilio errors worth another try later; everything else is final.
RETRYABLE_CODES = {20429}
RETRYABLE_STATUSES = {429}
#: Twilio keeps a message at most this long in its queue (ValidityPeriod's ceiling).
MAX_VALIDITY_SECONDS = 36_000
#: Twilio stamps messages with the real time, whatever notify's clock says (pinned in
#: tests, shifted by ``make time`` in dev): the gateway compares Twilio's times with it.
REAL_TIME = SystemClock()
#: Twilio's timestamps are whole seconds from another host's clock: how much earlier than
#: our own send a message of that send may look. Kept small: an identical text to the same
#: number just before it must not pass for it.
SEND_SLACK = timedelta(seconds=2)
#: Slack on ``find``'s window: the clocks, and a notify clock that stood still while real
#: time went on (pinned, in tests). Wide costs little: ``find`` excludes notify's SIDs.
FIND_SLACK = timedelta(minutes=2)
#: How a peer that closed the connection shows on our next write or read.
PEER_CLOSED = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


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

    async def find(
        self, *, to: str, body: str, known_sids: set[str], within: timedelta
    ) -> Accepted | None: ...

    async def close(self) -> None: ...


@dataclass
class _Request:
    """What aiohttp's trace saw of one request: on which connection, and how far it got."""

    reused: bool = False
    answered: bool = False


#: The request the current task is making (trace callbacks run in the requesting task).
_request: contextvars.ContextVar[_Request | None] = contextvars.ContextVar(
    "twilio_request", default=None
)


async def _on_reuse(*_: object) -> None:
    if (request := _request.get()) is not None:
        request.reused = True


async def _on_answer(*_: object) -> None:
    if (request := _request.get()) is not None:
        request.answered = True  # the status line and headers came back


def _tracing() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(_on_reuse)
    trace.on_request_end.append(_on_answer)
    return trace


class _StaleConnection(Exception):
    """The request died, unanswered, on a kept-alive connection the server had closed."""

    def __init__(self, failure: aiohttp.ClientError) -> None:
        super().__init__(str(failure))
        self.failure = failure


class TwilioGateway:
    """Sends through the official twilio SDK (async)."""

    def __init__(self, settings: NotifySettings) -> None:
        # The SDK's client, with our own session: a keep-alive below the server's idle
        # timeout (a connection it closed is rarely reused) and a trace of each request.
        self._http = AsyncTwilioHttpClient(pool_connections=False)
        self._http.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(keepalive_timeout=settings.twilio_keepalive_seconds),
            # And OpenTelemetry's, when tracing is on: Twilio's request in the send's trace.
            trace_configs=[_tracing(), *tracing.http_client_traces()],
        )
        self._client = self._sdk_client(self._http, settings)
        # No pool: each request on a connection of its own (the send again after a stale one).
        self._fresh = self._sdk_client(AsyncTwilioHttpClient(pool_connections=False), settings)
        self._from = settings.twilio_from_number
        self._timeout = settings.send_timeout_seconds

    @staticmethod
    def _sdk_client(http: AsyncTwilioHttpClient, settings: NotifySettings) -> Client:
        client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            http_client=http,
        )
        if settings.twilio_api_base_url:
            client.api.base_url = settings.twilio_api_base_url.rstrip("/")
        return client

    async def send(
        self, *, to: str, body: str, status_callback: str | None, validity_seconds: int | None
    ) -> Accepted:
        """Hand one SMS to Twilio; see the module docstring for how it can end."""
        options: dict[str, object] = {"to": to, "from_": self._from, "body": body}
        if status_callback:
            options["status_callback"] = status_callback
        if validity_seconds is not None:
            options["validity_period"] = max(1, min(validity_seconds, MAX_VALIDITY_SECONDS))
        since = REAL_TIME.now() - SEND_SLACK
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    message = await self._create_pooled(options)
                except _StaleConnection as stale:
                    # Nothing reached Twilio, as far as we can tell: ask before sending again.
                    try:
                        found = await self._find(to=to, body=body, known_sids=set(), since=since)
                    except (TwilioRestException, aiohttp.ClientError):
                        raise stale.failure from None  # cannot tell: in doubt after all
                    if found is not None:
                        return found
                    log.info("a kept-alive connection to Twilio had closed; sending again")
                    message = await self._fresh.messages.create_async(**options)
        except TwilioRestException as error:
            raise SmsRejected(error.code, error.status, error.msg) from error
        except aiohttp.ClientConnectorError as error:
            raise SendRefused(str(error)) from error
        return Accepted(sid=message.sid, status=message.status)

    async def _create_pooled(self, options: dict[str, object]) -> Any:
        request = _Request()
        token = _request.set(request)
        try:
            return await self._client.messages.create_async(**options)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
            if request.reused and not request.answered and _peer_closed(error):
                raise _StaleConnection(error) from error
            raise
        finally:
            _request.reset(token)

    async def find(
        self, *, to: str, body: str, known_sids: set[str], within: timedelta
    ) -> Accepted | None:
        """The message Twilio lists for ``to`` with this ``body``, created within ``within``
        of now (give or take the clocks' slack), that is not already ours."""
        since = REAL_TIME.now() - within - FIND_SLACK
        async with asyncio.timeout(self._timeout):
            return await self._find(to=to, body=body, known_sids=known_sids, since=since)

    async def _find(
        self, *, to: str, body: str, known_sids: set[str], since: datetime
    ) -> Accepted | None:
        # A list GET is idempotent: aiohttp itself retries it once on a stale connection.
        # Twilio filters only by the day a message was *sent* (a queued one has no date
        # yet), so the time it was created is matched here; newest first, the latest 50.
        listed = await self._client.messages.list_async(to=to, limit=50)
        for message in listed:
            created = message.date_created
            if created is not None and created < since:
                continue  # an older text that happens to read the same
            if message.body == body and message.sid not in known_sids:
                return Accepted(sid=message.sid, status=message.status)
        return None

    async def close(self) -> None:
        await self._http.close()


def _peer_closed(error: aiohttp.ServerDisconnectedError | aiohttp.ClientOSError) -> bool:
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return True
    return not isinstance(error, aiohttp.ClientConnectorError) and error.errno in PEER_CLOSED
