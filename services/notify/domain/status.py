"""A message's life: the order its statuses (shared.contracts.notify.MessageStatus) go in."""

from __future__ import annotations

from shared.contracts.notify import MessageStatus

#: Status only moves forward: a late or repeated callback never undoes a newer one.
RANK: dict[str, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.QUEUED: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.UNDELIVERED: 4,
    MessageStatus.FAILED: 4,
}
#: Twilio's statuses we take from callbacks and its message list ("accepted" is queued).
TWILIO_STATUSES = {
    "accepted": MessageStatus.QUEUED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}
#: Twilio may have it (or will say): the kind is settled for this appointment time.
LEFT_US = frozenset(
    {
        MessageStatus.SENDING,
        MessageStatus.UNKNOWN,
        MessageStatus.QUEUED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
    }
)
#: Staff must look: the patient may not have been told.
NEEDS_ATTENTION = frozenset(
    {MessageStatus.UNKNOWN, MessageStatus.UNDELIVERED, MessageStatus.FAILED}
)


def moves_forward(current: str, new: str) -> bool:
    """Whether ``new`` is later in a message's life than ``current``."""
    return RANK.get(new, -1) > RANK.get(current, 0)
