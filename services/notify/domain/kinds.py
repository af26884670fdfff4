"""The kinds of SMS the clinic sends, and what sets them apart."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a message is for."""

    INVITATION = "invitation"
    CONFIRMATION = "confirmation"
    REMINDER_24H = "reminder_24h"
    REMINDER_2H = "reminder_2h"
    CREAM_READY = "cream_ready"
    CREAM_APPLY = "cream_apply"
    CANCELLATION = "cancellation"
    HELP = "help"


#: Messages timed against the session: moved out of quiet hours, counted against caps,
#: subject to the late-booking policy. The others answer something that just happened.
SCHEDULED = frozenset({Kind.REMINDER_24H, Kind.REMINDER_2H, Kind.CREAM_READY, Kind.CREAM_APPLY})

#: Which scheduled message survives a cap first (most useful first).
CAP_PRIORITY = (Kind.CREAM_APPLY, Kind.REMINDER_2H, Kind.CREAM_READY, Kind.REMINDER_24H)
