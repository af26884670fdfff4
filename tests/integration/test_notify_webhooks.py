"""Twilio's webhooks and the staff API, with notify's app served in-process: signed
inbound SMS from the sandbox (STOP, C), forged ones refused, status only moving forward,
the message log's masking and the policy's validation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from notify.adapters.db import InboundSms, Message, Patient, outbox
from notify.adapters.sms import TwilioGateway
from notify.app import service
from notify.settings import SANDBOX_AUTH_TOKEN
from notify.workers.dispatcher import Dispatcher
from shared.auth import Role, issue_staff_token
from shared.clock import ManualClock
from shared.contracts.booking import AppointmentBooked
from shared.settings import DEV_JWT_SECRET
from tests.clock import TEST_NOW
from tests.integration.test_notify_scheduling import change, snapshot
from tests.utils import notify as harness
from twilio_sandbox import RunningSandbox, serve_in_background
from twilio_sandbox.resources import Direction

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOW = TEST_NOW
PHONE = "+33612345678"
NAMING_TREATMENT = {"body": "{{ clinic }}: {{ treatment }} at {{ time }}"}


@dataclass
class Notify:
    url: str
    sessions: async_sessionmaker[AsyncSession]
    sandbox: RunningSandbox
    gateway: TwilioGateway
    clock: ManualClock

    def staff(self, role: Role) -> httpx.AsyncClient:
        token = issue_staff_token(DEV_JWT_SECRET, subject="t@clinic", role=role, now=NOW)
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    async def inbound(self, body: str, sender: str = PHONE) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(
                f"{self.sandbox.control_url}/inbound",
                json={"from": sender, "to": "+15005550006", "body": body},
            )

    async def sent_count(self) -> int:
        return len(self.sandbox.store.messages(Direction.OUTBOUND_API))


@pytest_asyncio.fixture
async def notify(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Notify]:
    async for sessions in harness.migrated_sessions(fresh_database):
        async for sandbox in harness.sandbox():
            settings = harness.settings_for(
                fresh_database, sandbox, kafka_bootstrap_servers=bootstrap_servers,
                run_workers=False,
            )  # fmt: skip
            clock = ManualClock(NOW)
            app = service(settings, clock=clock).app(workers=[])
            async with serve_in_background(app) as url:
                settings.public_url = url  # what Twilio calls: signatures are checked against it
                sandbox.store.settings.inbound_webhook_url = f"{url}/v1/twilio/inbound"
                async for gateway in harness.gateway_for(settings):
                    yield Notify(url, sessions, sandbox, gateway, clock)


async def pending_message(notify: Notify) -> Message:
    patient_id = await harness.register(notify.sessions, now=NOW, phone=PHONE)
    message = harness.due_message(patient_id, "Mesocycle Paris: see you at 10:00.", due_at=NOW)
    async with notify.sessions.begin() as session:
        session.add(message)
    return message


async def event_types(notify: Notify) -> list[str]:
    async with notify.sessions() as session:
        return list(await session.scalars(sa.select(outbox.c.type).order_by(outbox.c.id)))


async def test_stop_means_nothing_more_is_sent(notify: Notify) -> None:
    message = await pending_message(notify)
    answer = await notify.inbound("Stop")
    assert answer.json()["webhook_status"] == 200

    dispatcher = Dispatcher(sessions=notify.sessions, gateway=notify.gateway, clock=notify.clock,
                            status_callback=None)  # fmt: skip
    notify.clock.advance(timedelta(minutes=1))
    assert await dispatcher.dispatch_due() == 0
    assert await notify.sent_count() == 0
    async with notify.sessions() as session:
        skipped = await session.get(Message, message.id)
        patient = await session.get(Patient, message.patient_id)
    assert skipped is not None
    assert skipped.status == "skipped"
    assert patient is not None
    assert patient.opted_out_at is not None
    assert "clinic.notify.sms_consent_changed.v1" in await event_types(notify)


async def test_a_forged_webhook_is_refused_and_changes_nothing(notify: Notify) -> None:
    message = await pending_message(notify)
    async with httpx.AsyncClient(base_url=notify.url) as client:
        forged = {"MessageSid": "SM" + "1" * 32, "From": PHONE, "To": "+15005550006",
                  "Body": "STOP"}  # fmt: skip
        inbound = await client.post("/v1/twilio/inbound", data=forged,
                                    headers={"X-Twilio-Signature": "forged"})  # fmt: skip
        unsigned = await client.post(
            "/v1/twilio/status", data={"MessageSid": "SMx", "MessageStatus": "delivered"}
        )
    assert (inbound.status_code, unsigned.status_code) == (403, 403)
    assert inbound.headers["content-type"] == "application/problem+json"
    async with notify.sessions() as session:
        patient = await session.get(Patient, message.patient_id)
        still = await session.get(Message, message.id)
        inbound_rows = await session.scalar(sa.select(sa.func.count()).select_from(InboundSms))
    assert patient is not None
    assert patient.opted_out_at is None
    assert still is not None
    assert still.status == "pending"
    assert inbound_rows == 0
    assert await event_types(notify) == []


async def test_status_only_moves_forward_and_duplicates_change_nothing(notify: Notify) -> None:
    message = await pending_message(notify)
    async with notify.sessions.begin() as session:
        await session.execute(sa.update(Message).where(Message.id == message.id)
                              .values(status="queued", twilio_sid="SMabc"))  # fmt: skip
    validator = RequestValidator(SANDBOX_AUTH_TOKEN)
    url = f"{notify.url}/v1/twilio/status"
    async with httpx.AsyncClient() as client:
        for twilio_status in ("delivered", "sent", "delivered", "queued"):
            form = {"MessageSid": "SMabc", "MessageStatus": twilio_status}
            signature = validator.compute_signature(url, form)
            answer = await client.post(url, data=form, headers={"X-Twilio-Signature": signature})
            assert answer.status_code == 204
    async with notify.sessions() as session:
        settled = await session.get(Message, message.id)
    assert settled is not None
    assert settled.status == "delivered"
    assert await event_types(notify) == ["clinic.notify.message_status_changed.v1"]


async def test_c_confirms_the_next_appointment_through_booking(notify: Notify) -> None:
    patient_id = await harness.register(notify.sessions, now=NOW, phone=PHONE)
    upcoming = snapshot(patient_id, uuid.uuid4(), version=1, starts_at=NOW + timedelta(days=3))
    await change(notify.sessions, AppointmentBooked, upcoming, NOW)
    answer = await notify.inbound("c")
    assert answer.json()["webhook_status"] == 200
    assert "clinic.notify.confirmation_received.v1" in await event_types(notify)


async def test_the_log_masks_phones_for_practitioners_and_shows_attention(notify: Notify) -> None:
    message = await pending_message(notify)
    async with notify.sessions.begin() as session:
        await session.execute(sa.update(Message).where(Message.id == message.id).values(
            status="failed", error_code=21211, sent_to=PHONE))  # fmt: skip
    params = {"patient_id": str(message.patient_id)}
    async with notify.staff(Role.PRACTITIONER) as practitioner, notify.staff(Role.STAFF) as desk:
        masked = (await practitioner.get("/v1/messages", params=params)).json()
        full = (await desk.get("/v1/messages", params=params)).json()
        attention = (await desk.get("/v1/messages/attention")).json()
        refused = await practitioner.get("/v1/messages/attention")
    assert masked[0]["to"] == "+*********78"
    assert full[0]["to"] == PHONE
    # Named by notify itself: the board needs no other list to say whom to call.
    assert [(m["id"], m["error_code"], m["patient_name"]) for m in attention] == [
        (str(message.id), 21211, "Léa Martin")
    ]
    assert refused.status_code == 403


async def test_policy_and_templates_are_validated_with_the_reason(notify: Notify) -> None:
    async with notify.staff(Role.ADMIN) as admin, notify.staff(Role.STAFF) as desk:
        policy = (await desk.get("/v1/policy")).json()
        assert policy["cream_apply"]["minutes_before"] == 90
        unworkable = {**policy, "cream_apply": {**policy["cream_apply"], "minutes_before": 30}}
        refused = await admin.put("/v1/policy", json=unworkable)
        assert refused.status_code == 422
        assert "cream_minimum_minutes" in refused.json()["detail"]

        treatment = await admin.put("/v1/templates/en/reminder_2h", json=NAMING_TREATMENT)
        assert treatment.status_code == 422
        assert "treatment" in treatment.json()["detail"]
        broken = await admin.put("/v1/templates/en/reminder_2h", json={"body": "{% if %}"})
        assert broken.status_code == 422
        too_long = await admin.put("/v1/templates/en/reminder_2h", json={"body": "x" * 400})
        assert "segments" in too_long.json()["detail"]
        by_desk = await desk.put("/v1/templates/en/reminder_2h", json={"body": "{{ clinic }}"})
        assert by_desk.status_code == 403

        saved = await admin.put("/v1/templates/en/reminder_2h",
                                json={"body": "{{ clinic }}: see you at {{ time }}!"})  # fmt: skip
        assert saved.status_code == 200
        assert saved.json()["sample"].endswith("see you at 19:45!")
        full_text = await admin.put("/v1/policy", json={**policy, "full_text": True})
        assert full_text.status_code == 200
        allowed = await admin.put("/v1/templates/en/reminder_2h", json=NAMING_TREATMENT)
        assert allowed.status_code == 200
