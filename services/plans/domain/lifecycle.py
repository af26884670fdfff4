"""A plan's life: draft -> active -> completed | cancelled, with pause and resume.

Which action each status allows lives here, once, so routers and consumers
refuse the same things with the same words.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class PlanStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class SessionStatus(StrEnum):
    #: To be booked: booking holds an open request for it.
    OPEN = "open"
    #: An appointment is booked for it.
    BOOKED = "booked"
    COMPLETED = "completed"
    #: The plan is paused: not to be booked until it resumes.
    WITHDRAWN = "withdrawn"
    #: The plan was cancelled before the session took place.
    CANCELLED = "cancelled"
    #: The plan completed (its last session was done) without this one.
    SKIPPED = "skipped"


#: Sessions that will not happen (again): re-planning leaves them where they are.
SETTLED = frozenset({SessionStatus.COMPLETED, SessionStatus.CANCELLED, SessionStatus.SKIPPED})

Action = Literal["activate", "change", "delete", "acknowledge", "pause", "resume", "cancel"]

_ALLOWED: dict[Action, tuple[tuple[PlanStatus, ...], str]] = {
    "activate": ((PlanStatus.DRAFT,), "activated"),
    "change": ((PlanStatus.DRAFT,), "changed"),
    "delete": ((PlanStatus.DRAFT,), "deleted"),
    "acknowledge": ((PlanStatus.DRAFT,), "acknowledged"),
    "pause": ((PlanStatus.ACTIVE,), "paused"),
    "resume": ((PlanStatus.PAUSED,), "resumed"),
    "cancel": ((PlanStatus.DRAFT, PlanStatus.ACTIVE, PlanStatus.PAUSED), "cancelled"),
}


class TransitionRefused(Exception):
    """The plan's status does not allow the action (a 409 for the caller)."""


def require(status: str, action: Action) -> None:
    """Raise :class:`TransitionRefused` unless a plan in ``status`` may take ``action``."""
    allowed, done = _ALLOWED[action]
    if status not in allowed:
        names = " or ".join(str(s) for s in allowed)
        article = "an" if names[0] in "aeiou" else "a"
        raise TransitionRefused(f"plan is {status}; only {article} {names} plan can be {done}")
