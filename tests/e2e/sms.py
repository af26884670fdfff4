"""Waiting for one specific SMS: notify's row for it, then the sandbox's copy.

A test names the message it means (patient, kind, appointment, version), never "any text
to this phone": an invitation sent at once in the daytime must not pass for the
confirmation a test is waiting on. When notify holds the message for later (quiet hours
at night, a reminder's time), the stack's pinned clock is moved to its due time, as a
night passing would: the test then runs the same at any ``TEST_NOW``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.polling import eventually

#: A message that will not be sent (or not again): waiting longer would not change that.
SETTLED = frozenset({"skipped", "replaced"})
#: Twilio has it (or had it and refused it): the sandbox holds a copy.
LEFT_US = frozenset({"queued", "sent", "delivered", "undelivered", "failed"})


@dataclass(frozen=True)
class Sms:
    """One message as notify logs it (``log``) and as the sandbox received it (``sent``)."""

    log: dict[str, Any]
    sent: dict[str, Any]

    @property
    def body(self) -> str:
        body: str = self.sent["body"]
        return body


#: A self-booking link in a text, as the patient would tap it.
_BOOKING_LINK = re.compile(r"https?://\S+/book/[A-Za-z0-9_-]+")


def link_in(body: str) -> str:
    """The self-booking link an SMS carries (an invitation's, an offer's)."""
    found = _BOOKING_LINK.search(body)
    if found is None:
        pytest.fail(f"no self-booking link in the SMS {body!r}")
    return found.group(0)


async def sandbox_messages(stack: Stack, to: str | None = None) -> list[dict[str, Any]]:
    """What the Twilio sandbox accepted (for ``to``), as Twilio's message resources."""
    params = {"to": to} if to else {}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{stack.urls['sandbox']}/_sandbox/messages", params=params)
    response.raise_for_status()
    return [m["resource"] for m in response.json()["messages"]]


async def logged_messages(
    stack: Stack, staff: httpx.AsyncClient, patient_id: str, kind: str | None = None
) -> list[dict[str, Any]]:
    """notify's message log for a patient (optionally of one kind), oldest first."""
    response = await staff.get(
        f"{stack.urls['notify']}/v1/messages", params={"patient_id": patient_id}
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return sorted(
        (m for m in found if kind is None or m["kind"] == kind), key=lambda m: m["created_at"]
    )


async def planned_sms(
    stack: Stack,
    staff: httpx.AsyncClient,
    *,
    patient_id: str,
    kind: str,
    appointment_id: str | None = None,
    version: int | None = None,
    within: float = 20.0,
) -> dict[str, Any]:
    """notify's live row for the message meant (not replaced nor skipped), once planned."""

    async def probe() -> dict[str, Any] | None:
        found = await logged_messages(stack, staff, patient_id)
        return next((m for m in found if _live(m, kind, appointment_id, version)), None)

    what = f"notify to plan the {kind} of patient {patient_id}"
    if appointment_id is not None:
        what += f" for appointment {appointment_id}" + (f" v{version}" if version else "")
    return await eventually(probe, within=within, what=what)


async def sent_sms(
    stack: Stack,
    staff: httpx.AsyncClient,
    *,
    patient_id: str,
    kind: str,
    appointment_id: str | None = None,
    version: int | None = None,
    within: float = 20.0,
) -> Sms:
    """The message meant, once Twilio (the sandbox) has it; if notify holds it for later,
    the stack's clock is first moved to its due time."""
    planned = await planned_sms(
        stack, staff, patient_id=patient_id, kind=kind, appointment_id=appointment_id,
        version=version, within=within,
    )  # fmt: skip
    _until_due(stack, planned)
    seen = planned

    async def handed_over() -> dict[str, Any] | None:
        nonlocal seen
        found = await logged_messages(stack, staff, patient_id)
        [seen] = [m for m in found if m["id"] == seen["id"]]
        if seen["status"] == "replaced":
            # Re-planned meanwhile (the patient's details arrived): its successor is meant.
            successor = next((m for m in found if _live(m, kind, appointment_id, version)), None)
            if successor is not None:
                seen = successor
                _until_due(stack, seen)
        return seen if seen["status"] in LEFT_US else None

    try:
        log = await eventually(handed_over, within=within, what=f"the {kind} to be sent")
    except pytest.fail.Exception:
        pytest.fail(f"the {kind} was not sent; notify's log has it as {seen}")
    [sent] = [m for m in await sandbox_messages(stack) if m["sid"] == log["twilio_sid"]]
    return Sms(log=log, sent=sent)


def _live(
    message: dict[str, Any], kind: str, appointment_id: str | None, version: int | None
) -> bool:
    """``message`` is the one meant, and will be sent or was (not replaced nor skipped)."""
    return (
        message["kind"] == kind
        and message["status"] not in SETTLED
        and (appointment_id is None or message["appointment_id"] == appointment_id)
        and (version is None or message["appointment_version"] == version)
    )


def _until_due(stack: Stack, message: dict[str, Any]) -> None:
    """Move the stack's clock to the message's due time, if that is later (a night)."""
    due = datetime.fromisoformat(message["due_at"])
    if due > stack.clock.now():
        stack.clock.set(due)


async def nothing_due(stack: Stack, staff: httpx.AsyncClient, patient_id: str) -> None:
    """Wait until every message of the patient due by the stack's clock has left notify
    (or will not be sent): what the sandbox holds for them then stays as it is until the
    clock moves or something new happens."""
    now = stack.clock.now()

    async def probe() -> bool:
        return all(
            m["status"] in LEFT_US | SETTLED or datetime.fromisoformat(m["due_at"]) > now
            for m in await logged_messages(stack, staff, patient_id)
        )

    await eventually(probe, what=f"the messages due for patient {patient_id} to go out")
