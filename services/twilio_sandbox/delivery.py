"""Background simulation of what happens to a message after Twilio accepts it.

Each accepted message gets a task that walks it through Twilio's statuses, one step
every ``delivery_delay_seconds``:

    [accepted ->] queued -> sent -> delivered | undelivered (30003)

(``accepted`` only for Messaging Service sends). When the message has a
``ValidityPeriod`` that ends before the simulated send time it fails instead, with
Twilio's 30036 "Validity Period Expired", at the moment the period runs out.
Each status, the first one included, is POSTed to the message's ``StatusCallback``
before the next step starts, so callbacks arrive in order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import httpx

from twilio_sandbox.numbers import mask
from twilio_sandbox.resources import Message, MessageStatus
from twilio_sandbox.store import SandboxStore
from twilio_sandbox.webhooks import WebhookSender, redact_url, status_callback_params

logger = logging.getLogger(__name__)

UNDELIVERED_ERROR: Final = (30003, "Unreachable destination handset")
EXPIRED_ERROR: Final = (30036, "Validity Period Expired")


class DeliverySimulator:
    """Runs one status-progression task per accepted message."""

    def __init__(
        self,
        store: SandboxStore,
        sender: WebhookSender,
        *,
        messaging_service_sender: str,
    ) -> None:
        self._store = store
        self._sender = sender
        self._messaging_service_sender = messaging_service_sender
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        """Messages whose progression has not finished yet."""
        return len(self._tasks)

    def start(self, message: Message) -> None:
        """Begin the progression of a freshly accepted message."""
        task = asyncio.create_task(self._run(message.sid), name=f"twilio-sandbox-{message.sid}")
        # Keep a strong reference: the event loop only holds weak ones.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        """Stop every progression (on reset and shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, sid: str) -> None:
        try:
            await self._progress(sid)
        except Exception:
            # A bug here must not take the sandbox down; the message just stops moving.
            logger.exception("delivery simulation of %s crashed", sid)

    async def _progress(self, sid: str) -> None:
        message = self._store.get(sid)
        if message is None:
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = self._store.settings.delivery_delay_seconds
        expires = None if message.validity_period is None else started + message.validity_period

        async def wait_until(moment: float) -> None:
            await asyncio.sleep(max(0.0, moment - loop.time()))

        await self._notify(message)
        step = 0
        if message.status is MessageStatus.ACCEPTED:
            step += 1
            await wait_until(started + step * delay)
            # The Messaging Service picks its sender now, as Twilio's does.
            message = self._store.transition(
                sid, MessageStatus.QUEUED, from_=self._messaging_service_sender
            )
            if message is None:
                return
            await self._notify(message)

        step += 1
        send_at = started + step * delay
        if expires is not None and expires < send_at:
            await wait_until(expires)
            code, text = EXPIRED_ERROR
            message = self._store.transition(
                sid, MessageStatus.FAILED, error_code=code, error_message=text
            )
            if message is not None:
                logger.info("message %s expired in the queue (ValidityPeriod)", sid)
                await self._notify(message)
            return
        await wait_until(send_at)
        message = self._store.transition(sid, MessageStatus.SENT)
        if message is None:
            return
        await self._notify(message)

        step += 1
        await wait_until(started + step * delay)
        if self._store.is_undeliverable(message.to):
            code, text = UNDELIVERED_ERROR
            message = self._store.transition(
                sid, MessageStatus.UNDELIVERED, error_code=code, error_message=text
            )
        else:
            message = self._store.transition(sid, MessageStatus.DELIVERED)
        if message is None:
            return
        logger.info("message %s to %s %s", sid, mask(message.to), message.status.value)
        await self._notify(message)

    async def _notify(self, message: Message) -> None:
        """POST the message's current status to its StatusCallback, if it has one."""
        url = message.status_callback
        if url is None:
            return
        status = message.status.value
        try:
            response = await self._sender.post(url, status_callback_params(message))
        except httpx.HTTPError as exc:
            # Twilio does not retry SMS status callbacks either: log and move on.
            logger.warning(
                "status callback %s of %s to %s failed: %s",
                status,
                message.sid,
                redact_url(url),
                type(exc).__name__,
            )
            return
        if response.status_code >= 400:
            logger.warning(
                "status callback %s of %s to %s answered HTTP %d",
                status,
                message.sid,
                redact_url(url),
                response.status_code,
            )
