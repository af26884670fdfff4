"""In-memory state of the sandbox: messages and their status progression, number flags,
injected faults and the settings that can change at runtime.

Everything runs on one event loop and no method awaits, so each mutation is atomic
without locks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Final

from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.resources import Direction, Message, MessageStatus, new_sid
from twilio_sandbox.segments import count_segments

# Twilio's default opt-out management keywords (matched on the whole trimmed body).
OPT_OUT_KEYWORDS: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
OPT_IN_KEYWORDS: Final = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS: Final = frozenset({"HELP", "INFO"})


def utc_now() -> datetime:
    """The sandbox's default clock."""
    return datetime.now(UTC)


class FaultKind(StrEnum):
    """Failures the control API can inject into the next create requests."""

    RATE_LIMIT = "rate_limit"  # answer 429 / 20429, nothing stored
    SERVER_ERROR = "server_error"  # answer 500 / 20500, nothing stored
    SLOW_ACCEPT = "slow_accept"  # store and deliver, but answer only after a delay


@dataclass
class PendingFault:
    """A fault waiting for ``remaining`` more create requests."""

    kind: FaultKind
    remaining: int
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class InjectedFault:
    """The fault one create request has to suffer."""

    kind: FaultKind
    delay_seconds: float


@dataclass
class RuntimeSettings:
    """Settings the control API may change while the sandbox runs."""

    inbound_webhook_url: str | None
    delivery_delay_seconds: float


@dataclass(frozen=True)
class MessageFilter:
    """The list filters Twilio supports (``To``, ``From``, ``DateSent``, ``DateSent<``/``>``).

    ``sent_before`` and ``sent_after`` are inclusive bounds, like Twilio's ``<=``/``>=``;
    a message not sent yet has no ``date_sent`` and never matches a date filter.
    """

    to: str | None = None
    from_: str | None = None
    sent_on: date | None = None
    sent_before: datetime | None = None
    sent_after: datetime | None = None

    def matches(self, message: Message) -> bool:
        """Whether ``message`` passes every filter that is set."""
        if self.to is not None and message.to != self.to:
            return False
        if self.from_ is not None and message.from_ != self.from_:
            return False
        has_date_filter = any(
            bound is not None for bound in (self.sent_on, self.sent_before, self.sent_after)
        )
        if not has_date_filter:
            return True
        if message.date_sent is None:
            return False
        # Twilio's timestamps have whole seconds; compare at that precision.
        sent = message.date_sent.replace(microsecond=0)
        if self.sent_on is not None and sent.date() != self.sent_on:
            return False
        if self.sent_before is not None and sent > self.sent_before:
            return False
        return not (self.sent_after is not None and sent < self.sent_after)


class SandboxStore:
    """Every message the sandbox has seen, plus the knobs tests turn."""

    def __init__(
        self,
        *,
        account_sid: str,
        inbound_webhook_url: str | None = None,
        delivery_delay_seconds: float = 0.2,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.account_sid = account_sid
        self._clock = clock
        self._initial = RuntimeSettings(inbound_webhook_url, delivery_delay_seconds)
        self.settings = RuntimeSettings(inbound_webhook_url, delivery_delay_seconds)
        self._messages: dict[str, Message] = {}
        self._opted_out: set[str] = set()
        self._undeliverable: set[str] = set()
        self._faults: deque[PendingFault] = deque()

    @classmethod
    def from_config(cls, config: SandboxConfig) -> SandboxStore:
        """A fresh store seeded with the config's account and starting settings."""
        return cls(
            account_sid=config.account_sid,
            inbound_webhook_url=config.inbound_webhook_url,
            delivery_delay_seconds=config.delivery_delay_seconds,
        )

    def now(self) -> datetime:
        """Current time of the store's clock (UTC)."""
        return self._clock()

    def reset(self) -> None:
        """Forget messages, number flags and faults; restore the starting settings."""
        self._messages.clear()
        self._opted_out.clear()
        self._undeliverable.clear()
        self._faults.clear()
        self.settings = RuntimeSettings(
            self._initial.inbound_webhook_url, self._initial.delivery_delay_seconds
        )

    # -- messages ---------------------------------------------------------------------

    def accept_outbound(
        self,
        *,
        to: str,
        from_: str | None,
        body: str,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        validity_period: int | None = None,
    ) -> Message:
        """Store a message accepted by the Messages API in its first status.

        Like Twilio, a message sent through a Messaging Service starts ``accepted`` (no
        sender chosen yet); one with an explicit ``From`` starts ``queued``.
        """
        now = self.now()
        status = MessageStatus.QUEUED if from_ is not None else MessageStatus.ACCEPTED
        message = Message(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            direction=Direction.OUTBOUND_API,
            to=to,
            from_=from_,
            body=body,
            num_segments=count_segments(body),
            status=status,
            date_created=now,
            date_updated=now,
            messaging_service_sid=messaging_service_sid,
            status_callback=status_callback,
            validity_period=validity_period,
            status_history=[status],
        )
        self._messages[message.sid] = message
        return message

    def record_inbound(self, *, from_: str, to: str, body: str) -> tuple[Message, str | None]:
        """Store an SMS a patient sent and apply Twilio's opt-out keywords.

        Returns the message and the ``OptOutType`` Twilio adds to the webhook
        (``STOP``, ``START``, ``HELP``) when the body is one of those keywords.
        Simplification: an opt-out applies to the patient's number for every sender
        of the account, where Twilio scopes it to the sender or Messaging Service.
        """
        now = self.now()
        message = Message(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            direction=Direction.INBOUND,
            to=to,
            from_=from_,
            body=body,
            num_segments=count_segments(body),
            status=MessageStatus.RECEIVED,
            date_created=now,
            date_updated=now,
            date_sent=now,
            status_history=[MessageStatus.RECEIVED],
        )
        self._messages[message.sid] = message
        keyword = body.strip().upper()
        if keyword in OPT_OUT_KEYWORDS:
            self._opted_out.add(from_)
            return message, "STOP"
        if keyword in OPT_IN_KEYWORDS:
            self._opted_out.discard(from_)
            return message, "START"
        if keyword in HELP_KEYWORDS:
            return message, "HELP"
        return message, None

    def get(self, sid: str) -> Message | None:
        """The message with this SID, if the store has it."""
        return self._messages.get(sid)

    def messages(self, direction: Direction | None = None) -> list[Message]:
        """Messages in the order they arrived, optionally of one direction only."""
        return [m for m in self._messages.values() if direction is None or m.direction == direction]

    def search(self, message_filter: MessageFilter) -> list[Message]:
        """Messages matching the filter, newest first, as Twilio lists them."""
        return [m for m in reversed(self._messages.values()) if message_filter.matches(m)]

    def transition(
        self,
        sid: str,
        status: MessageStatus,
        *,
        error_code: int | None = None,
        error_message: str | None = None,
        from_: str | None = None,
    ) -> Message | None:
        """Move a message to ``status``; None when it is gone (the store was reset)."""
        message = self._messages.get(sid)
        if message is None:
            return None
        now = self.now()
        message.status = status
        message.date_updated = now
        message.status_history.append(status)
        if from_ is not None:
            message.from_ = from_
        if status is MessageStatus.SENT:
            message.date_sent = now
        if error_code is not None:
            message.error_code = error_code
            message.error_message = error_message
        return message

    # -- number flags -----------------------------------------------------------------

    def set_number_flags(
        self,
        number: str,
        *,
        opted_out: bool | None = None,
        undeliverable: bool | None = None,
    ) -> None:
        """Mark or unmark a number as opted out / undeliverable (None leaves a flag as is)."""
        for flag, numbers in ((opted_out, self._opted_out), (undeliverable, self._undeliverable)):
            if flag is True:
                numbers.add(number)
            elif flag is False:
                numbers.discard(number)

    def is_opted_out(self, number: str) -> bool:
        """Whether sending to ``number`` must fail with 21610."""
        return number in self._opted_out

    def is_undeliverable(self, number: str) -> bool:
        """Whether messages to ``number`` end ``undelivered`` (30003)."""
        return number in self._undeliverable

    @property
    def opted_out(self) -> frozenset[str]:
        """Numbers currently opted out."""
        return frozenset(self._opted_out)

    @property
    def undeliverable(self) -> frozenset[str]:
        """Numbers currently undeliverable."""
        return frozenset(self._undeliverable)

    # -- faults -----------------------------------------------------------------------

    def add_fault(self, kind: FaultKind, count: int, delay_seconds: float = 0.0) -> None:
        """Queue a fault for the next ``count`` create requests, after the ones queued."""
        if count < 1:
            raise ValueError("count must be at least 1")
        self._faults.append(PendingFault(kind, count, delay_seconds))

    def take_fault(self) -> InjectedFault | None:
        """Consume one create request's worth of the oldest pending fault."""
        if not self._faults:
            return None
        head = self._faults[0]
        head.remaining -= 1
        if head.remaining == 0:
            self._faults.popleft()
        return InjectedFault(head.kind, head.delay_seconds)

    def pending_faults(self) -> list[PendingFault]:
        """Faults still waiting, in the order they will hit."""
        return [PendingFault(f.kind, f.remaining, f.delay_seconds) for f in self._faults]

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()
