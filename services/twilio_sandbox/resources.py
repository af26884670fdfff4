"""The message record the sandbox keeps and its Twilio JSON representation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Final

API_VERSION: Final = "2010-04-01"


class Direction(StrEnum):
    """Twilio's message directions the sandbox produces."""

    OUTBOUND_API = "outbound-api"
    INBOUND = "inbound"


class MessageStatus(StrEnum):
    """Twilio message statuses the sandbox moves through."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    RECEIVED = "received"


FINAL_STATUSES: Final = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.RECEIVED,
    }
)
FAILED_STATUSES: Final = frozenset({MessageStatus.UNDELIVERED, MessageStatus.FAILED})


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix and 32 lowercase hex digits."""
    return prefix + uuid.uuid4().hex


def rfc2822(moment: datetime | None) -> str | None:
    """Format a timestamp the way Twilio does (``Tue, 25 Nov 2025 09:15:02 +0000``)."""
    return None if moment is None else format_datetime(moment)


def messages_uri(account_sid: str) -> str:
    """Relative URI of an account's Messages list."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"


@dataclass
class Message:
    """One message the sandbox accepted or received, with its delivery state."""

    sid: str
    account_sid: str
    direction: Direction
    to: str
    from_: str | None
    body: str
    num_segments: int
    status: MessageStatus
    date_created: datetime
    date_updated: datetime
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    validity_period: int | None = None
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    status_history: list[MessageStatus] = field(default_factory=list)

    @property
    def uri(self) -> str:
        """Relative URI of this message resource."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def to_resource(self) -> dict[str, object]:
        """The message as Twilio's API returns it (the fields the SDK's MessageInstance reads)."""
        base = self.uri.removesuffix(".json")
        # Twilio reports 0 segments until a Messaging Service has picked the sender.
        segments = 0 if self.status is MessageStatus.ACCEPTED else self.num_segments
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction.value,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status.value,
            "subresource_uris": {
                "media": f"{base}/Media.json",
                "feedback": f"{base}/Feedback.json",
            },
            "to": self.to,
            "uri": self.uri,
        }
