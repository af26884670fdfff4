"""What sets the kinds of SMS (shared.contracts.notify.MessageKind) apart."""

from __future__ import annotations

from shared.contracts.notify import MessageKind

#: Messages timed against the session: moved out of quiet hours, counted against caps,
#: subject to the late-booking policy. The others answer something that just happened.
SCHEDULED = frozenset(
    {
        MessageKind.REMINDER_24H,
        MessageKind.REMINDER_2H,
        MessageKind.CREAM_READY,
        MessageKind.CREAM_APPLY,
    }
)

#: Which scheduled message survives a cap first (most useful first).
CAP_PRIORITY = (
    MessageKind.CREAM_APPLY,
    MessageKind.REMINDER_2H,
    MessageKind.CREAM_READY,
    MessageKind.REMINDER_24H,
)
