"""Sends in doubt (#13): what is not in doubt is sent at once, what is is settled in a minute.

A kept-alive connection the server closed while notify stood still (a paused process:
here the test's event loop, blocked by ``time.sleep``) kills the next request before
any answer: the gateway checks Twilio's list and sends again on a new connection, once.
The sandbox runs in a process of its own, with a 1 s keep-alive, so it closes the idle
connection while the test's loop is blocked, as Twilio does while notify is paused.

A real send in doubt is settled by the reconciler within a minute of its attempt: found
in Twilio's list by recipient, text and time, else sent again, never twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from devstack.ports import free_port
from notify.adapters.db import Message
from notify.adapters.sms import TwilioGateway
from notify.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, NotifySettings
from notify.workers.dispatcher import Dispatcher
from notify.workers.reconciler import Reconciler
from shared.clock import ManualClock
from tests.clock import TEST_NOW, wall_clock
from tests.utils import notify as harness
from twilio_sandbox import SandboxStore, create_app, serve_in_background

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PATIENT = "+33612345678"
#: The sandbox's keep-alive, and how long the test's loop stands still: well longer (a
#: busy machine may close the connection late).
SERVER_KEEP_ALIVE = 1
PAUSE = 3.0


# -- the sandbox in a process of its own ---------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """``python -m twilio_sandbox`` with a 1 s keep-alive; reset before each test."""
    port = free_port()
    env = {
        **os.environ,
        "TWILIO_SANDBOX_ACCOUNT_SID": SANDBOX_ACCOUNT_SID,
        "TWILIO_SANDBOX_AUTH_TOKEN": SANDBOX_AUTH_TOKEN,
        "TWILIO_SANDBOX_PORT": str(port),
        "TWILIO_SANDBOX_KEEP_ALIVE_SECONDS": str(SERVER_KEEP_ALIVE),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "twilio_sandbox"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, "the sandbox process exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_sandbox/settings", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the sandbox process did not start serving")
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def sandbox(sandbox_url: str) -> str:
    assert httpx.post(f"{sandbox_url}/_sandbox/reset").status_code == 204
    return sandbox_url


def accepted_by(sandbox: str) -> list[dict[str, Any]]:
    """Every SMS the sandbox accepted, oldest first, as Twilio describes it."""
    listed = httpx.get(f"{sandbox}/_sandbox/messages").json()["messages"]
    return [message["resource"] for message in listed]


def bodies_in(sandbox: str) -> list[str]:
    return [message["body"] for message in accepted_by(sandbox)]


def stand_still() -> None:
    """Block the event loop, as a paused process (SIGSTOP) stands still: meanwhile the
    sandbox, in its own process, closes the idle kept-alive connection."""
    time.sleep(PAUSE)


@contextlib.asynccontextmanager
async def gateway_to(url: str, **settings: Any) -> AsyncIterator[TwilioGateway]:
    gateway = TwilioGateway(NotifySettings(twilio_api_base_url=url, **settings))
    try:
        yield gateway
    finally:
        await gateway.close()


async def send(gateway: TwilioGateway, body: str) -> str:
    accepted = await gateway.send(to=PATIENT, body=body, status_callback=None, validity_seconds=60)
    return accepted.sid


# -- a connection the server closed while notify stood still --------------------------------


async def test_the_sdk_alone_fails_on_a_kept_alive_connection_the_server_closed(
    sandbox: str,
) -> None:
    """The premise: the request dies on the reused connection, before reaching Twilio."""
    reused = 0

    async def on_reuse(*_: object) -> None:
        nonlocal reused
        reused += 1

    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(on_reuse)
    http = AsyncTwilioHttpClient(trace_configs=[trace])  # the SDK as it comes
    client = Client(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, http_client=http)
    client.api.base_url = sandbox
    try:
        await client.messages.create_async(to=PATIENT, from_="+15005550006", body="first")
        stand_still()
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await client.messages.create_async(to=PATIENT, from_="+15005550006", body="second")
    finally:
        await http.close()
    assert reused == 1
    assert bodies_in(sandbox) == ["first"]  # the second never reached the server


async def test_a_send_on_a_connection_the_server_closed_is_sent_again_once(
    sandbox: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="notify.adapters.sms")
    # The gateway keeps the connection longer than the pause: the pool hands it out again.
    async with gateway_to(sandbox, twilio_keepalive_seconds=2 * PAUSE) as gateway:
        first = await send(gateway, "first")
        stand_still()
        second = await send(gateway, "second")  # accepted: not an error, not in doubt

    assert bodies_in(sandbox) == ["first", "second"]  # each exactly once
    assert first != second
    # The connection was reused and found closed (the case above), and sent again.
    assert "had closed; sending again" in caplog.text


async def test_a_connection_idle_longer_than_our_keep_alive_is_not_reused(
    sandbox: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="notify.adapters.sms")
    async with gateway_to(sandbox, twilio_keepalive_seconds=SERVER_KEEP_ALIVE) as gateway:
        await send(gateway, "first")
        stand_still()
        await send(gateway, "second")
    assert bodies_in(sandbox) == ["first", "second"]
    assert "sending again" not in caplog.text  # a new connection from the start


class AnswerDropper:
    """A TCP relay to the sandbox that can lose the answer to a request: the sandbox gets
    the request and stores the SMS, the client sees its kept-alive connection close
    unanswered. The ambiguous case: looks stale, but Twilio has the message."""

    def __init__(self, upstream: str) -> None:
        self._upstream_port = int(upstream.rsplit(":", 1)[1])
        self.drop_next_answer = False

    async def relay(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        server_in, server = await asyncio.open_connection("127.0.0.1", self._upstream_port)

        async def requests() -> None:
            while data := await client_in.read(65536):
                server.write(data)
                await server.drain()

        async def answers() -> None:
            while data := await server_in.read(65536):
                if self.drop_next_answer:
                    self.drop_next_answer = False
                    return
                client.write(data)
                await client.drain()

        try:
            both = [asyncio.ensure_future(requests()), asyncio.ensure_future(answers())]
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            for task in both:
                task.cancel()
            await asyncio.gather(*both, return_exceptions=True)
        finally:
            client.close()
            server.close()


async def test_an_answer_lost_on_a_kept_alive_connection_is_found_not_sent_twice(
    sandbox: str,
) -> None:
    dropper = AnswerDropper(sandbox)
    server = await asyncio.start_server(dropper.relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with gateway_to(f"http://127.0.0.1:{port}") as gateway:
            await send(gateway, "first")
            dropper.drop_next_answer = True
            second = await send(gateway, "second")
    finally:
        server.close()
        await server.wait_closed()

    listed = accepted_by(sandbox)
    assert [m["body"] for m in listed] == ["first", "second"]  # not twice
    assert second == listed[1]["sid"]  # Twilio's answer, found in its list


# -- a real send in doubt, settled within a minute ------------------------------------------

SETTINGS = NotifySettings()
GRACE = timedelta(seconds=SETTINGS.reconcile_grace_seconds)
INTERVAL = timedelta(seconds=SETTINGS.reconcile_interval_seconds)
#: When the dispatcher gives up on an answer and marks the send unknown.
GAVE_UP = timedelta(seconds=SETTINGS.send_timeout_seconds)
BODY = "Mesocycle Paris: see you at 10:00."


class TwilioTime:
    """The sandbox's clock: the real time (Twilio's), moved back to stamp an older SMS."""

    def __init__(self) -> None:
        self.behind = timedelta(0)

    def __call__(self) -> datetime:
        return wall_clock() - self.behind


@pytest_asyncio.fixture
async def clocked_sandbox() -> AsyncIterator[tuple[str, SandboxStore, TwilioTime]]:
    twilio_time = TwilioTime()
    config = harness.sandbox_config()
    store = SandboxStore(
        account_sid=config.account_sid, delivery_delay_seconds=0.05, clock=twilio_time
    )
    async with serve_in_background(create_app(config, store=store)) as url:
        yield url, store, twilio_time


async def unknown_message(
    sessions: async_sessionmaker[AsyncSession], attempted_at: datetime
) -> Message:
    """A send the dispatcher attempted at ``attempted_at`` and got no answer to."""
    patient_id = await harness.register(sessions, now=attempted_at, phone=PATIENT)
    message = harness.due_message(
        patient_id, BODY, due_at=attempted_at, kind="confirmation", status="unknown",
        attempted_at=attempted_at, sent_to=PATIENT, updated_at=attempted_at + GAVE_UP,
    )  # fmt: skip
    async with sessions.begin() as session:
        session.add(message)
    return message


async def reconcile_until_settled(reconciler: Reconciler, clock: ManualClock) -> None:
    """The reconcile worker's ticks, from when the send was marked unknown, until settled."""
    for _ in range(10):
        if await reconciler.reconcile():
            return
        clock.advance(INTERVAL)
    pytest.fail("the reconciler never settled the message")


def test_the_defaults_settle_a_send_in_doubt_within_a_minute() -> None:
    longest_in_doubt = GRACE + INTERVAL
    assert longest_in_doubt <= timedelta(minutes=1)


async def test_a_send_in_doubt_twilio_never_got_is_sent_again_within_a_minute(
    sessions: async_sessionmaker[AsyncSession],
    clocked_sandbox: tuple[str, SandboxStore, TwilioTime],
) -> None:
    url, store, _ = clocked_sandbox
    message = await unknown_message(sessions, TEST_NOW)
    clock = ManualClock(TEST_NOW + GAVE_UP)
    async with gateway_to(url) as gateway:
        reconciler = Reconciler(sessions=sessions, gateway=gateway, clock=clock, grace=GRACE)
        await reconcile_until_settled(reconciler, clock)
        assert GRACE <= clock.now() - TEST_NOW <= timedelta(minutes=1)
        assert (await harness.reload(sessions, message)).status == "pending"
        dispatcher = Dispatcher(
            sessions=sessions, gateway=gateway, clock=clock, status_callback=None
        )
        assert await dispatcher.dispatch_due() == 1

    sent = await harness.reload(sessions, message)
    assert [m.sid for m in store.messages()] == [sent.twilio_sid]  # once


async def test_a_send_in_doubt_twilio_has_is_settled_at_first_look_and_never_sent_again(
    sessions: async_sessionmaker[AsyncSession],
    clocked_sandbox: tuple[str, SandboxStore, TwilioTime],
) -> None:
    url, store, _ = clocked_sandbox
    # notify's clock a day ahead of Twilio's (``make time SHIFT=+1d``): times are compared
    # on each side's own clock, never notify's against Twilio's.
    attempted = wall_clock() + timedelta(days=1)
    message = await unknown_message(sessions, attempted)
    clock = ManualClock(attempted + GAVE_UP)
    async with gateway_to(url) as gateway:
        await send(gateway, BODY)  # Twilio got it; the answer never came back
        reconciler = Reconciler(sessions=sessions, gateway=gateway, clock=clock, grace=GRACE)
        assert await reconciler.reconcile() == 1  # first look

        clock.advance(GRACE + INTERVAL)
        assert await reconciler.reconcile() == 0
        dispatcher = Dispatcher(
            sessions=sessions, gateway=gateway, clock=clock, status_callback=None
        )
        assert await dispatcher.dispatch_due() == 0

    settled = await harness.reload(sessions, message)
    [accepted] = store.messages()
    assert (settled.twilio_sid, settled.status_reason) == (
        accepted.sid,
        "reconciled: Twilio has it",
    )


async def test_an_older_text_that_reads_the_same_is_not_taken_for_the_send_in_doubt(
    sessions: async_sessionmaker[AsyncSession],
    clocked_sandbox: tuple[str, SandboxStore, TwilioTime],
) -> None:
    url, store, twilio_time = clocked_sandbox
    message = await unknown_message(sessions, TEST_NOW)
    clock = ManualClock(TEST_NOW + GAVE_UP)
    async with gateway_to(url) as gateway:
        # The same text to the same number yesterday, its row since gone (retention).
        twilio_time.behind = timedelta(days=1)
        yesterday = await send(gateway, BODY)
        twilio_time.behind = timedelta(0)

        reconciler = Reconciler(sessions=sessions, gateway=gateway, clock=clock, grace=GRACE)
        await reconcile_until_settled(reconciler, clock)
        assert (await harness.reload(sessions, message)).status == "pending"  # not yesterday's
        dispatcher = Dispatcher(
            sessions=sessions, gateway=gateway, clock=clock, status_callback=None
        )
        assert await dispatcher.dispatch_due() == 1

    sent = await harness.reload(sessions, message)
    assert [m.sid for m in store.messages()] == [yesterday, sent.twilio_sid]
