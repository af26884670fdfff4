"""The clinic's message policy: what is sent, when, and what happens when it is too late.

One document per clinic, stored by notify and edited by admins. The defaults are the
clinic's agreed practice; every field is validated so a policy that cannot work (cream
applied less than an hour before, quiet hours all day) is refused with the reason.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from shared.clock import LocalTime

MINUTES_PER_DAY = 24 * 60


class IfBookedLate(StrEnum):
    """What to do with a message whose send time passed before the appointment was booked."""

    FOLD = "fold_into_confirmation"  # the confirmation carries its content
    SEND_NOW = "send_now"  # send it at once, if still useful and not in quiet hours
    SKIP = "skip"  # do not send it (recorded with why)


class Timing(BaseModel):
    """When one scheduled message goes out, relative to the session's start.

    ``days_before`` counts calendar days in the patient's time zone (the same local
    time N days earlier, so a DST change does not move it by an hour);
    ``minutes_before`` is then taken off in real time.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: StrictBool = True
    days_before: StrictInt = Field(0, ge=0, le=14)
    minutes_before: StrictInt = Field(0, ge=0, le=MINUTES_PER_DAY)
    if_booked_late: IfBookedLate


class MessagePolicy(BaseModel):
    """The clinic's message policy (defaults: the clinic's agreed practice)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reminder_24h: Timing = Timing(days_before=1, if_booked_late=IfBookedLate.SKIP)
    reminder_2h: Timing = Timing(minutes_before=120, if_booked_late=IfBookedLate.SKIP)
    #: 'Have your numbing cream ready', about two days before.
    cream_ready: Timing = Timing(days_before=2, if_booked_late=IfBookedLate.FOLD)
    #: 'Apply it now': the cream must be on, covered, well before the session.
    cream_apply: Timing = Timing(minutes_before=90, if_booked_late=IfBookedLate.SEND_NOW)
    #: A lidocaine/prilocaine cream needs at least this long under its film.
    cream_minimum_minutes: StrictInt = Field(60, ge=30, le=240)
    #: No scheduled SMS in this local window; such a message moves earlier.
    quiet_hours_start: LocalTime = time(21, 0)
    quiet_hours_end: LocalTime = time(8, 0)
    #: Per patient, counting every SMS; scheduled ones beyond it are skipped (recorded).
    daily_cap: StrictInt = Field(4, ge=1, le=20)
    weekly_cap: StrictInt = Field(10, ge=1, le=100)
    #: Name the treatment in SMS. Off by default: a link to details instead (privacy).
    full_text: StrictBool = False
    #: Where a patient reads the details of their appointment (sent instead of a treatment).
    details_url: str | None = Field(None, max_length=120)
    #: What HELP answers with: the clinic's phone or address.
    help_contact: str = Field("", max_length=60)
    #: The languages the clinic texts in (templates exist for en and fr); a patient
    #: whose language is not among them gets ``default_language``.
    languages: tuple[Annotated[str, Field(pattern=r"^[a-z]{2}$")], ...] = ("en", "fr")
    default_language: str = Field("en", pattern=r"^[a-z]{2}$")

    @model_validator(mode="after")
    def _workable(self) -> Self:
        if self.cream_apply.days_before * MINUTES_PER_DAY + self.cream_apply.minutes_before < (
            self.cream_minimum_minutes
        ):
            raise ValueError(
                "cream_apply must be at least cream_minimum_minutes before the session: "
                "the cream needs that long under its film"
            )
        if self.default_language not in self.languages:
            raise ValueError("default_language must be one of languages")
        if self.weekly_cap < self.daily_cap:
            raise ValueError("weekly_cap cannot be lower than daily_cap")
        if _awake_minutes(self.quiet_hours_start, self.quiet_hours_end) < 4 * 60:
            raise ValueError("quiet hours must leave at least 4 hours a day to send in")
        return self

    def timing(self, kind: str) -> Timing:
        """The timing of a scheduled kind of message."""
        timing: Timing = getattr(self, kind)
        return timing

    @property
    def cream_useful_until(self) -> timedelta:
        """How long before the session an 'apply it now' message still works."""
        return timedelta(minutes=self.cream_minimum_minutes)


def _awake_minutes(start: time, end: time) -> int:
    """Minutes a day outside quiet hours [start, end)."""
    day = date(2000, 1, 1)
    quiet = datetime.combine(day, end) - datetime.combine(day, start)
    quiet_minutes = int(quiet.total_seconds() // 60) % MINUTES_PER_DAY
    return MINUTES_PER_DAY - quiet_minutes


DEFAULT_POLICY = MessagePolicy()
