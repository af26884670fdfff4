"""Turning a template and an appointment's facts into the text of one SMS.

Templates run in Jinja2's sandbox with undefined names as errors, so a template an
admin saves is rendered once against sample facts and refused with the reason when it
fails or runs past two SMS segments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from notify.domain.policy import MessagePolicy
from notify.domain.templates.defaults import DAY_NAMES, DEFAULT_TEMPLATES, MONTH_NAMES
from notify.domain.templates.segments import MAX_SEGMENTS, count_segments
from shared.contracts.notify import MessageKind

_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

#: Templates by language, then kind.
TemplateBook = Mapping[str, Mapping[MessageKind, str]]


class TemplateRejected(ValueError):
    """A template that does not render, or renders too long: the reason is the message."""


@dataclass(frozen=True)
class MessageFacts:
    """Everything a text may say. The treatment is only offered with full_text on."""

    clinic: str
    language: str
    time_zone: str
    starts_at: datetime | None = None
    session_number: int | None = None
    total_sessions: int | None = None
    confirmed: bool = False
    rescheduled: bool = False
    carries: tuple[MessageKind, ...] = field(default=())
    apply_at: datetime | None = None
    link: str | None = None
    latest_date: date | None = None
    treatment: str | None = None
    #: An offer: until when the patient may take it, and the later session it would move
    #: earlier (if it is one).
    claim_by: datetime | None = None
    moving_from: datetime | None = None


def template_book(overrides: Mapping[tuple[str, str], str]) -> dict[str, dict[MessageKind, str]]:
    """The defaults with the clinic's saved templates laid over them."""
    book = {language: dict(kinds) for language, kinds in DEFAULT_TEMPLATES.items()}
    for (language, kind), source in overrides.items():
        book.setdefault(language, {})[MessageKind(kind)] = source
    return book


def language_for(book: TemplateBook, wanted: str, kind: MessageKind, policy: MessagePolicy) -> str:
    """The patient's language when the clinic texts in it, else the clinic's default."""
    for language in (wanted, policy.default_language, "en"):
        if (language in policy.languages or language == "en") and kind in book.get(language, {}):
            return language
    raise TemplateRejected(f"no template for {kind} in any language")


def context_of(facts: MessageFacts, policy: MessagePolicy) -> dict[str, object]:
    """The names a template sees."""
    zone = ZoneInfo(facts.time_zone)
    language = facts.language if facts.language in DAY_NAMES else "en"
    starts = facts.starts_at.astimezone(zone) if facts.starts_at else None
    apply_at = facts.apply_at.astimezone(zone) if facts.apply_at else None
    claim_by = facts.claim_by.astimezone(zone) if facts.claim_by else None
    moving = facts.moving_from.astimezone(zone) if facts.moving_from else None
    context: dict[str, object] = {
        "clinic": facts.clinic,
        "date": _day(starts, language) if starts else "",
        "time": f"{starts:%H:%M}" if starts else "",
        "session_number": facts.session_number,
        "total_sessions": facts.total_sessions,
        "confirmed": facts.confirmed,
        "rescheduled": facts.rescheduled,
        "cream_ready": MessageKind.CREAM_READY in facts.carries,
        "apply_day": _day(apply_at, language) if apply_at else "",
        "apply_time": f"{apply_at:%H:%M}" if apply_at else "",
        "link": facts.link or "",
        "latest_date": _day(facts.latest_date, language) if facts.latest_date else "",
        "details_url": policy.details_url or "",
        "help_contact": policy.help_contact,
        "claim_time": f"{claim_by:%H:%M}" if claim_by else "",
        "moving_date": _day(moving, language) if moving else "",
    }
    if policy.full_text:
        context["treatment"] = facts.treatment or ""
    return context


def render(source: str, context: Mapping[str, object]) -> str:
    """The text of one SMS; raises :class:`TemplateRejected` with the reason."""
    try:
        text = _ENVIRONMENT.from_string(source).render(context)
    except TemplateError as error:
        raise TemplateRejected(f"{type(error).__name__}: {error}") from error
    except Exception as error:  # a sandboxed template can still divide by zero
        raise TemplateRejected(f"{type(error).__name__}: {error}") from error
    text = " ".join(text.split())
    if not text:
        raise TemplateRejected("the template renders an empty text")
    return text


def check_template(source: str, *, kind: MessageKind, policy: MessagePolicy, clinic: str) -> str:
    """Render ``source`` against long sample facts; the text, or the reason it is refused."""
    starts = datetime(2026, 9, 30, 17, 45, tzinfo=UTC)
    facts = MessageFacts(
        clinic=clinic,
        language="fr",  # the longest day and month names
        time_zone="Europe/Paris",
        starts_at=starts,
        session_number=10,
        total_sessions=12,
        carries=(MessageKind.CREAM_READY, MessageKind.CREAM_APPLY),
        apply_at=starts - timedelta(minutes=90),
        link="https://book.example-clinic.com/b/" + "x" * 43,
        latest_date=date(2026, 12, 31),
        treatment="Face and neck rejuvenation",
        claim_by=starts - timedelta(days=1),
        moving_from=starts + timedelta(days=6),
    )
    text = render(source, context_of(facts, policy))
    segments = count_segments(text)
    if segments > MAX_SEGMENTS:
        raise TemplateRejected(
            f"renders {len(text)} characters, {segments} SMS segments for sample facts; "
            f"the limit is {MAX_SEGMENTS} (a character outside GSM-7 halves the room)"
        )
    return text


def _day(value: date | datetime, language: str) -> str:
    day, month = DAY_NAMES[language][value.weekday()], MONTH_NAMES[language][value.month - 1]
    return f"{day} {value.day} {month}"
