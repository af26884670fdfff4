"""A message's life: the statuses it goes through, in the only order they may go."""

from __future__ import annotations

PENDING = "pending"  # scheduled, waiting for its due time
SENDING = "sending"  # claimed by a dispatcher (under lease)
UNKNOWN = "unknown"  # the send may or may not have reached Twilio: reconcile, never resend
QUEUED = "queued"  # Twilio has it
SENT = "sent"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"  # refused for good (invalid number, unsubscribed...)
SKIPPED = "skipped"  # decided not to send, with the reason
REPLACED = "replaced"  # superseded by a change to the appointment before it went out

#: Status only moves forward: a late or repeated callback never undoes a newer one.
RANK = {
    PENDING: 0,
    SENDING: 1,
    UNKNOWN: 1,
    QUEUED: 2,
    SENT: 3,
    DELIVERED: 4,
    UNDELIVERED: 4,
    FAILED: 4,
}
#: Twilio's statuses we take from callbacks and its message list ("accepted" is queued).
TWILIO_STATUSES = {
    "accepted": QUEUED,
    "queued": QUEUED,
    "sending": QUEUED,
    "sent": SENT,
    "delivered": DELIVERED,
    "undelivered": UNDELIVERED,
    "failed": FAILED,
}
#: Twilio may have it (or will say): the kind is settled for this appointment time.
LEFT_US = frozenset({SENDING, UNKNOWN, QUEUED, SENT, DELIVERED, UNDELIVERED, FAILED})
#: Appointment statuses (booking's) whose session is still to come and to be reminded of.
UPCOMING = frozenset({"booked", "confirmed"})
#: Appointment statuses (booking's) that take their booking request: its invitation is moot.
TAKES_REQUEST = frozenset({"held", "booked", "confirmed", "checked_in"})
#: Staff must look: the patient may not have been told.
NEEDS_ATTENTION = frozenset({UNKNOWN, UNDELIVERED, FAILED})


def moves_forward(current: str, new: str) -> bool:
    """Whether ``new`` is later in a message's life than ``current``."""
    return RANK.get(new, -1) > RANK.get(current, 0)
