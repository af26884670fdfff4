"""The Twilio sandbox, driven only through the official twilio SDK and the control API.

The sandbox stands in for Twilio in dev and tests, so what matters is that the real SDK
(async client, ``client.api.base_url`` pointed at the sandbox) parses every answer and
raises the same ``TwilioRestException`` codes, and that webhooks validate with the SDK's
``RequestValidator``. A small local receiver records the webhooks the sandbox sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.clock import wall_clock
from twilio_sandbox import RunningSandbox, SandboxConfig, running_sandbox, serve_in_background

CLINIC = "+15005550006"
PATIENT = "+33612345678"
OTHER_PATIENT = "+33698765432"
MESSAGING_SERVICE = "MG" + "0123456789abcdef" * 2
TWIML = "<?xml version='1.0' encoding='UTF-8'?><Response/>"
DELIVERY_DELAY = 0.05

# The SDK's aiohttp client trips aiohttp's own deprecation warnings; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio")
WAIT_TIMEOUT = 5.0


@dataclass
class Received:
    """One webhook request the receiver got."""

    path: str
    url: str
    params: dict[str, str]
    signature: str | None


@dataclass
class Receiver:
    """A tiny webhook endpoint: records status callbacks and inbound SMS webhooks."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def app(self) -> FastAPI:
        app = FastAPI()

        async def record(request: Request) -> None:
            form = await request.form()
            self.requests.append(
                Received(
                    path=request.url.path,
                    url=str(request.url),
                    params={key: str(value) for key, value in form.items()},
                    signature=request.headers.get("X-Twilio-Signature"),
                )
            )
            async with self.arrived:
                self.arrived.notify_all()

        @app.post("/status")
        async def status(request: Request) -> Response:
            await record(request)
            return Response(status_code=204)

        @app.post("/inbound")
        async def inbound(request: Request) -> Response:
            await record(request)
            return Response(TWIML, media_type="application/xml")

        return app

    def callbacks_for(self, sid: str) -> list[Received]:
        return [r for r in self.requests if r.path == "/status" and r.params["MessageSid"] == sid]


# -- fixtures -----------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(delivery_delay_seconds=DELIVERY_DELAY)) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve_in_background(receiver.app()) as url:
        receiver.url = url
        yield receiver


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def control(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.control_url, trust_env=False) as client:
        yield client


@contextlib.asynccontextmanager
async def sdk_client(base_url: str, account_sid: str, auth_token: str) -> AsyncIterator[Any]:
    """The product's way of talking to Twilio, pointed at the sandbox."""
    http_client = AsyncTwilioHttpClient()
    client = Client(account_sid, auth_token, http_client=http_client)
    client.api.base_url = base_url
    try:
        yield client
    finally:
        await http_client.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def twilio(sandbox: RunningSandbox) -> AsyncIterator[Any]:
    async with sdk_client(sandbox.url, sandbox.config.account_sid, sandbox.config.auth_token) as c:
        yield c


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def clean_state(control: httpx.AsyncClient, receiver: Receiver) -> None:
    response = await control.post("/reset")
    assert response.status_code == 204
    receiver.requests.clear()


# -- helpers ------------------------------------------------------------------------------


async def send(twilio: Any, body: str = "Your session is tomorrow at 10:00", **kwargs: Any) -> Any:
    options: dict[str, Any] = {"to": PATIENT, "from_": CLINIC} | kwargs
    return await twilio.messages.create_async(body=body, **options)


async def wait_for_status(twilio: Any, sid: str, *statuses: str) -> Any:
    """Fetch the message until it reaches one of ``statuses``."""
    async with asyncio.timeout(WAIT_TIMEOUT):
        while True:
            message = await twilio.messages(sid).fetch_async()
            if message.status in statuses:
                return message
            await asyncio.sleep(0.02)


async def wait_for_callback(receiver: Receiver, sid: str, status: str) -> list[Received]:
    """Wait until the receiver got the ``status`` callback of ``sid``; return all of its."""

    def arrived() -> bool:
        return any(r.params["MessageStatus"] == status for r in receiver.callbacks_for(sid))

    async with asyncio.timeout(WAIT_TIMEOUT), receiver.arrived:
        await receiver.arrived.wait_for(arrived)
    return receiver.callbacks_for(sid)


async def sandbox_messages(control: httpx.AsyncClient, direction: str = "outbound-api") -> Any:
    response = await control.get("/messages", params={"direction": direction})
    assert response.status_code == 200
    return response.json()


async def rest_error(coro: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        await coro
    return caught.value


def assert_signed(received: Received, url: str, auth_token: str) -> None:
    """The webhook's signature validates for its URL, and only with the right token."""
    assert received.signature
    assert received.url == url
    assert RequestValidator(auth_token).validate(url, received.params, received.signature)
    assert not RequestValidator("another-token").validate(url, received.params, received.signature)
    tampered = received.params | {"Body": "tampered", "MessageStatus": "tampered"}
    assert not RequestValidator(auth_token).validate(url, tampered, received.signature)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- creating, fetching, listing ------------------------------------------------------------


async def test_create_returns_a_twilio_message_resource(
    sandbox: RunningSandbox, twilio: Any, control: httpx.AsyncClient
) -> None:
    before = wall_clock().replace(microsecond=0)
    message = await send(twilio, " 2 days to go! ")

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.account_sid == sandbox.config.account_sid
    assert (message.to, message.from_, message.body) == (PATIENT, CLINIC, " 2 days to go! ")
    assert message.status == "queued"
    assert message.direction == "outbound-api"
    assert message.num_segments == "1"
    assert message.num_media == "0"
    assert message.price is None
    assert message.error_code is None
    assert message.date_sent is None
    assert before <= message.date_created <= wall_clock()
    assert message.uri == (
        f"/2010-04-01/Accounts/{sandbox.config.account_sid}/Messages/{message.sid}.json"
    )
    listed = await sandbox_messages(control)
    assert listed["count"] == 1
    assert listed["messages"][0]["resource"]["sid"] == message.sid


async def test_fetch_follows_delivery_and_an_unknown_sid_is_20404(twilio: Any) -> None:
    message = await send(twilio)

    delivered = await wait_for_status(twilio, message.sid, "delivered")
    assert delivered.date_sent is not None
    assert delivered.error_code is None

    error = await rest_error(twilio.messages("SM" + "0" * 32).fetch_async())
    assert (error.status, error.code) == (404, 20404)


async def test_list_pages_newest_first_filtered_by_recipient(twilio: Any) -> None:
    for n in range(5):
        await send(twilio, f"to patient #{n}")
    for n in range(2):
        await send(twilio, f"to other #{n}", to=OTHER_PATIENT)

    first_page = await twilio.messages.page_async(to=PATIENT, page_size=2)
    assert [m.body for m in first_page] == ["to patient #4", "to patient #3"]
    assert first_page.next_page_url is not None
    assert "PageToken=PA" in first_page.next_page_url

    everything = await twilio.messages.list_async(to=PATIENT, page_size=2)
    assert [m.body for m in everything] == [f"to patient #{n}" for n in (4, 3, 2, 1, 0)]
    assert {m.to for m in everything} == {PATIENT}

    newest_three = await twilio.messages.list_async(to=PATIENT, limit=3)
    assert [m.body for m in newest_three] == [f"to patient #{n}" for n in (4, 3, 2)]

    streamed = [m.body async for m in await twilio.messages.stream_async(page_size=3)]
    assert len(streamed) == 7
    assert streamed[0] == "to other #1"


async def test_list_filters_on_date_sent(twilio: Any) -> None:
    sent = await send(twilio)
    await send(twilio, to=OTHER_PATIENT)
    delivered = await wait_for_status(twilio, sent.sid, "delivered")
    hour_ago = wall_clock() - timedelta(hours=1)

    same_day = await twilio.messages.list_async(to=PATIENT, date_sent=delivered.date_sent)
    assert [m.sid for m in same_day] == [sent.sid]
    assert await twilio.messages.list_async(to=PATIENT, date_sent_before=hour_ago) == []
    recent = await twilio.messages.list_async(to=PATIENT, date_sent_after=hour_ago)
    assert [m.sid for m in recent] == [sent.sid]


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, "1"),
        ("a" * 161, "2"),
        ("a" * 306, "2"),
        ("a" * 307, "3"),
        ("é" * 160, "1"),  # é is in the GSM-7 alphabet
        ("€" * 80, "1"),  # extension characters cost two septets
        ("€" * 81, "2"),
        ("ł" * 70, "1"),  # not GSM-7: UCS-2, 70 per single SMS
        ("ł" * 71, "2"),
        ("ł" * 135, "3"),  # 67 per part
        ("😀" * 35, "1"),  # a surrogate pair is two UTF-16 units
        ("😀" * 36, "2"),
    ],
)
async def test_segments_follow_gsm7_and_ucs2_limits(twilio: Any, body: str, segments: str) -> None:
    message = await send(twilio, body)
    assert message.num_segments == segments


async def test_messaging_service_picks_the_sender_after_accepting(
    sandbox: RunningSandbox, twilio: Any
) -> None:
    message = await twilio.messages.create_async(
        to=PATIENT, messaging_service_sid=MESSAGING_SERVICE, body="Booked!"
    )
    assert (message.status, message.from_, message.num_segments) == ("accepted", None, "0")
    assert message.messaging_service_sid == MESSAGING_SERVICE

    delivered = await wait_for_status(twilio, message.sid, "delivered")
    assert delivered.from_ == sandbox.config.messaging_service_sender
    assert delivered.num_segments == "1"


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("to", ["+15005550001", "not a number", "+3361234", "0612345678"])
async def test_invalid_recipient_is_21211(twilio: Any, control: httpx.AsyncClient, to: str) -> None:
    error = await rest_error(send(twilio, to=to))
    assert (error.status, error.code) == (400, 21211)
    assert (await sandbox_messages(control))["count"] == 0


async def test_missing_and_oversized_bodies_are_rejected(
    twilio: Any, control: httpx.AsyncClient
) -> None:
    missing = await rest_error(twilio.messages.create_async(to=PATIENT, from_=CLINIC))
    assert (missing.status, missing.code) == (400, 21602)
    too_long = await rest_error(send(twilio, "x" * 1601))
    assert (too_long.status, too_long.code) == (400, 21617)
    assert (await sandbox_messages(control))["count"] == 0

    longest = await send(twilio, "x" * 1600)
    assert longest.num_segments == "11"


async def test_out_of_range_validity_period_is_21624(twilio: Any) -> None:
    error = await rest_error(send(twilio, validity_period=36_001))
    assert (error.status, error.code) == (400, 21624)


async def test_stop_from_the_patient_unsubscribes_until_start(
    twilio: Any, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await control.patch("/settings", json={"inbound_webhook_url": f"{receiver.url}/inbound"})

    stop = await control.post("/inbound", json={"from": PATIENT, "to": CLINIC, "body": " stop "})
    assert stop.status_code == 200
    assert stop.json()["opt_out_type"] == "STOP"
    assert receiver.requests[-1].params["OptOutType"] == "STOP"

    error = await rest_error(send(twilio))
    assert (error.status, error.code) == (400, 21610)
    assert "unsubscribed recipient" in error.msg
    await send(twilio, to=OTHER_PATIENT)  # only the patient who sent STOP is blocked

    start = await control.post("/inbound", json={"from": PATIENT, "to": CLINIC, "body": "START"})
    assert start.json()["opt_out_type"] == "START"
    await send(twilio)
    assert (await sandbox_messages(control))["count"] == 2


async def test_opting_out_through_the_control_api_is_21610(
    twilio: Any, control: httpx.AsyncClient
) -> None:
    flagged = await control.post("/numbers", json={"number": PATIENT, "opted_out": True})
    assert flagged.json() == {"number": PATIENT, "opted_out": True, "undeliverable": False}

    error = await rest_error(send(twilio))
    assert (error.status, error.code) == (400, 21610)
    assert (await sandbox_messages(control))["count"] == 0


async def test_bad_basic_auth_is_401_20003(
    sandbox: RunningSandbox, control: httpx.AsyncClient
) -> None:
    config = sandbox.config
    async with sdk_client(sandbox.url, config.account_sid, "wrong-token") as wrong_token:
        error = await rest_error(send(wrong_token))
        assert (error.status, error.code) == (401, 20003)
        # The SDK reports failed list pages as a bare TwilioException with the response.
        with pytest.raises(TwilioException) as listing:
            await wrong_token.messages.list_async()
        assert listing.value.args[1].status_code == 401
        assert json.loads(listing.value.args[1].text)["code"] == 20003
    other_account = "AC" + "f" * 32
    async with sdk_client(sandbox.url, other_account, config.auth_token) as wrong_account:
        error = await rest_error(send(wrong_account))
        assert (error.status, error.code) == (401, 20003)
    assert (await sandbox_messages(control))["count"] == 0


# -- injected faults ------------------------------------------------------------------------


async def test_injected_429s_surface_as_20429_and_store_nothing(
    twilio: Any, control: httpx.AsyncClient
) -> None:
    injected = await control.post("/faults", json={"kind": "rate_limit", "count": 2})
    assert injected.status_code == 201

    for _ in range(2):
        error = await rest_error(send(twilio))
        assert (error.status, error.code) == (429, 20429)
    await send(twilio)

    assert (await sandbox_messages(control))["count"] == 1
    assert (await control.get("/faults")).json() == {"pending": []}


async def test_injected_500_stores_nothing(twilio: Any, control: httpx.AsyncClient) -> None:
    await control.post("/faults", json={"kind": "server_error"})

    error = await rest_error(send(twilio))
    assert (error.status, error.code) == (500, 20500)
    assert (await sandbox_messages(control))["count"] == 0


async def test_slow_accept_stores_the_message_although_the_client_gives_up(
    twilio: Any, control: httpx.AsyncClient
) -> None:
    await control.post("/faults", json={"kind": "slow_accept", "delay_seconds": 1.0})

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(send(twilio, "sent once?"), timeout=0.3)

    listed = await sandbox_messages(control)
    assert listed["count"] == 1
    assert listed["messages"][0]["resource"]["body"] == "sent once?"
    # A blind retry is a second SMS: exactly what the product must avoid.
    await send(twilio, "sent once?")
    assert (await sandbox_messages(control))["count"] == 2


# -- status callbacks -----------------------------------------------------------------------


async def test_status_callbacks_are_signed_and_arrive_in_order(
    sandbox: RunningSandbox, twilio: Any, receiver: Receiver
) -> None:
    callback_url = f"{receiver.url}/status?clinic=paris"
    message = await send(twilio, status_callback=callback_url)

    callbacks = await wait_for_callback(receiver, message.sid, "delivered")

    assert [c.params["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]
    for callback in callbacks:
        assert_signed(callback, callback_url, sandbox.config.auth_token)
        assert callback.params["SmsStatus"] == callback.params["MessageStatus"]
        assert callback.params["AccountSid"] == sandbox.config.account_sid
        assert (callback.params["From"], callback.params["To"]) == (CLINIC, PATIENT)
        assert callback.params["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in callback.params


async def test_undeliverable_number_ends_undelivered_30003(
    twilio: Any, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await control.post("/numbers", json={"number": PATIENT, "undeliverable": True})
    message = await send(twilio, status_callback=f"{receiver.url}/status")

    callbacks = await wait_for_callback(receiver, message.sid, "undelivered")

    assert [c.params["MessageStatus"] for c in callbacks] == ["queued", "sent", "undelivered"]
    assert callbacks[-1].params["ErrorCode"] == "30003"
    fetched = await twilio.messages(message.sid).fetch_async()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


async def test_message_expires_when_validity_period_ends_before_sending(
    twilio: Any, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    # The message would leave the queue after 1.5 s but may only wait 1 s there.
    await control.patch("/settings", json={"delivery_delay_seconds": 1.5})
    message = await send(twilio, validity_period=1, status_callback=f"{receiver.url}/status")

    callbacks = await wait_for_callback(receiver, message.sid, "failed")

    assert [c.params["MessageStatus"] for c in callbacks] == ["queued", "failed"]
    fetched = await twilio.messages(message.sid).fetch_async()
    assert (fetched.status, fetched.error_code, fetched.date_sent) == ("failed", 30036, None)


async def test_a_callback_target_that_is_down_does_not_stop_delivery(twilio: Any) -> None:
    message = await send(twilio, status_callback=f"http://127.0.0.1:{free_port()}/status")

    await wait_for_status(twilio, message.sid, "delivered")
    await send(twilio)  # the sandbox still serves


# -- inbound SMS ----------------------------------------------------------------------------


async def test_inbound_sms_is_posted_signed_to_the_webhook(
    sandbox: RunningSandbox, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    webhook_url = f"{receiver.url}/inbound"
    await control.patch("/settings", json={"inbound_webhook_url": webhook_url})

    response = await control.post("/inbound", json={"from": PATIENT, "to": CLINIC, "body": "C"})

    assert response.status_code == 200
    answer = response.json()
    assert (answer["webhook_status"], answer["webhook_body"]) == (200, TWIML)
    assert answer["opt_out_type"] is None
    (webhook,) = receiver.requests
    assert_signed(webhook, webhook_url, sandbox.config.auth_token)
    assert webhook.params["MessageSid"] == answer["message_sid"]
    assert webhook.params["AccountSid"] == sandbox.config.account_sid
    assert (webhook.params["From"], webhook.params["To"]) == (PATIENT, CLINIC)
    assert (webhook.params["Body"], webhook.params["NumMedia"]) == ("C", "0")
    assert (await sandbox_messages(control, "inbound"))["count"] == 1
    assert (await sandbox_messages(control))["count"] == 0


async def test_inbound_without_a_webhook_url_is_a_conflict(control: httpx.AsyncClient) -> None:
    response = await control.post("/inbound", json={"from": PATIENT, "to": CLINIC, "body": "C"})
    assert response.status_code == 409


# -- control API and page -------------------------------------------------------------------


async def test_reset_forgets_messages_flags_and_faults(
    twilio: Any, control: httpx.AsyncClient
) -> None:
    await send(twilio)
    await control.post("/numbers", json={"number": OTHER_PATIENT, "opted_out": True})
    await control.post("/faults", json={"kind": "server_error", "count": 3})

    assert (await control.post("/reset")).status_code == 204

    assert (await sandbox_messages(control))["count"] == 0
    assert (await control.get("/numbers")).json() == {"opted_out": [], "undeliverable": []}
    assert (await control.get("/faults")).json() == {"pending": []}
    await send(twilio, to=OTHER_PATIENT)


async def test_the_html_page_lists_messages_newest_first_escaped(
    twilio: Any, control: httpx.AsyncClient
) -> None:
    await send(twilio, "first <b>message</b>")
    await send(twilio, "second message")

    page = await control.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<b>message</b>" not in page.text
    assert page.text.index("second message") < page.text.index("first &lt;b&gt;message")
