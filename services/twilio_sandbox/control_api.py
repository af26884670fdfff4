"""The sandbox's own control API under ``/_sandbox/`` (not part of Twilio).

Tests and the dev demo use it to inspect what was sent, reset state, flag numbers,
inject faults, change runtime settings and simulate a patient's SMS.
"""

from __future__ import annotations

import logging
from typing import Literal, Self

import httpx
from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twilio_sandbox.context import Sandbox
from twilio_sandbox.dashboard import render_dashboard
from twilio_sandbox.numbers import mask, to_e164
from twilio_sandbox.resources import Direction, Message
from twilio_sandbox.store import FaultKind
from twilio_sandbox.webhooks import inbound_webhook_params, redact_url

logger = logging.getLogger(__name__)


class SandboxMessage(BaseModel):
    """A message as Twilio returns it, plus what only the sandbox knows."""

    resource: dict[str, object]
    status_history: list[str]
    status_callback: str | None
    validity_period: int | None

    @classmethod
    def of(cls, message: Message) -> SandboxMessage:
        """Describe a stored message."""
        return cls(
            resource=message.to_resource(),
            status_history=[status.value for status in message.status_history],
            status_callback=message.status_callback,
            validity_period=message.validity_period,
        )


class MessageList(BaseModel):
    """``GET /_sandbox/messages``: oldest first."""

    count: int
    messages: list[SandboxMessage]


class NumberFlagsIn(BaseModel):
    """Set (true), clear (false) or keep (null) a number's flags."""

    number: str
    opted_out: bool | None = None
    undeliverable: bool | None = None


class NumberFlags(BaseModel):
    """A number's current flags."""

    number: str
    opted_out: bool
    undeliverable: bool


class NumbersState(BaseModel):
    """Every flagged number."""

    opted_out: list[str]
    undeliverable: list[str]


class FaultIn(BaseModel):
    """Make the next ``count`` create requests fail in the given way."""

    kind: FaultKind
    count: int = Field(default=1, ge=1, le=10_000)
    delay_seconds: float = Field(default=0.0, ge=0, le=300)

    @model_validator(mode="after")
    def _slow_accept_needs_delay(self) -> Self:
        if self.kind is FaultKind.SLOW_ACCEPT and self.delay_seconds <= 0:
            raise ValueError("slow_accept needs delay_seconds > 0")
        return self


class FaultOut(BaseModel):
    """A pending fault."""

    kind: FaultKind
    remaining: int
    delay_seconds: float


class Faults(BaseModel):
    """Pending faults in the order they will hit."""

    pending: list[FaultOut]


class SettingsOut(BaseModel):
    """Runtime settings."""

    inbound_webhook_url: str | None
    delivery_delay_seconds: float


class SettingsPatch(BaseModel):
    """Fields to change; omitted ones stay (``inbound_webhook_url: null`` clears it)."""

    inbound_webhook_url: str | None = None
    delivery_delay_seconds: float | None = Field(default=None, ge=0, le=600)


class InboundIn(BaseModel):
    """An SMS a patient sends to one of the clinic's numbers."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    body: str


class InboundOut(BaseModel):
    """What the inbound webhook answered."""

    message_sid: str
    webhook_url: str
    webhook_status: int
    webhook_body: str
    opt_out_type: str | None


def _e164_or_422(number: str, field: str) -> str:
    e164 = to_e164(number)
    if e164 is None:
        raise HTTPException(status_code=422, detail=f"{field} is not a valid E.164 phone number")
    return e164


def control_router(sandbox: Sandbox) -> APIRouter:
    """Routes of the control API and the HTML page."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])
    store = sandbox.store

    @router.get("/", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        """A plain HTML page listing messages, newest first."""
        return HTMLResponse(render_dashboard(store))

    @router.get("/messages")
    async def list_messages(
        direction: Literal["outbound-api", "inbound", "all"] = "outbound-api",
        to: str | None = None,
    ) -> MessageList:
        """Every message ever stored (outbound by default), oldest first, with a count."""
        selected = None if direction == "all" else Direction(direction)
        messages = [m for m in store.messages(selected) if to is None or m.to == to]
        return MessageList(count=len(messages), messages=[SandboxMessage.of(m) for m in messages])

    @router.post("/reset", status_code=204)
    async def reset() -> Response:
        """Stop deliveries in flight and forget all state."""
        await sandbox.simulator.cancel_all()
        store.reset()
        return Response(status_code=204)

    @router.get("/numbers")
    async def numbers() -> NumbersState:
        """Numbers flagged as opted out or undeliverable."""
        return NumbersState(
            opted_out=sorted(store.opted_out), undeliverable=sorted(store.undeliverable)
        )

    @router.post("/numbers")
    async def flag_number(flags: NumberFlagsIn) -> NumberFlags:
        """Mark a number opted out (sends fail 21610) or undeliverable (ends 30003)."""
        number = _e164_or_422(flags.number, "number")
        store.set_number_flags(number, opted_out=flags.opted_out, undeliverable=flags.undeliverable)
        return NumberFlags(
            number=number,
            opted_out=store.is_opted_out(number),
            undeliverable=store.is_undeliverable(number),
        )

    def faults_view() -> Faults:
        return Faults(
            pending=[
                FaultOut(kind=f.kind, remaining=f.remaining, delay_seconds=f.delay_seconds)
                for f in store.pending_faults()
            ]
        )

    @router.get("/faults")
    async def faults() -> Faults:
        """Faults still pending."""
        return faults_view()

    @router.post("/faults", status_code=201)
    async def inject_fault(fault: FaultIn) -> Faults:
        """Queue a fault for the next ``count`` create requests."""
        store.add_fault(fault.kind, fault.count, fault.delay_seconds)
        return faults_view()

    @router.delete("/faults")
    async def clear_faults() -> Faults:
        """Drop all pending faults."""
        store.clear_faults()
        return faults_view()

    def settings_view() -> SettingsOut:
        return SettingsOut(
            inbound_webhook_url=store.settings.inbound_webhook_url,
            delivery_delay_seconds=store.settings.delivery_delay_seconds,
        )

    @router.get("/settings")
    async def get_settings() -> SettingsOut:
        """Current runtime settings."""
        return settings_view()

    @router.patch("/settings")
    async def patch_settings(patch: SettingsPatch) -> SettingsOut:
        """Change the inbound webhook URL and/or the delivery delay."""
        if "inbound_webhook_url" in patch.model_fields_set:
            store.settings.inbound_webhook_url = patch.inbound_webhook_url
        if patch.delivery_delay_seconds is not None:
            store.settings.delivery_delay_seconds = patch.delivery_delay_seconds
        return settings_view()

    @router.post("/inbound")
    async def inbound(sms: InboundIn) -> InboundOut:
        """Simulate a patient's SMS: store it, apply opt-out keywords, call the webhook."""
        url = store.settings.inbound_webhook_url
        if url is None:
            raise HTTPException(status_code=409, detail="no inbound webhook URL is configured")
        sender = _e164_or_422(sms.from_, "from")
        recipient = _e164_or_422(sms.to, "to")
        message, opt_out_type = store.record_inbound(from_=sender, to=recipient, body=sms.body)
        logger.info("inbound %s from %s to %s", message.sid, mask(sender), mask(recipient))
        try:
            response = await sandbox.sender.post(url, inbound_webhook_params(message, opt_out_type))
        except httpx.HTTPError as exc:
            logger.warning("inbound webhook %s failed: %s", redact_url(url), type(exc).__name__)
            raise HTTPException(
                status_code=502, detail=f"inbound webhook unreachable: {type(exc).__name__}"
            ) from exc
        return InboundOut(
            message_sid=message.sid,
            webhook_url=url,
            webhook_status=response.status_code,
            webhook_body=response.text,
            opt_out_type=opt_out_type,
        )

    return router
