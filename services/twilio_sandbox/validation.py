"""What the Messages API accepts as input, checked in Twilio's order with Twilio's codes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Final
from urllib.parse import urlsplit

from twilio_sandbox import errors
from twilio_sandbox.numbers import validate_recipient, validate_sender
from twilio_sandbox.segments import MAX_BODY_CHARS
from twilio_sandbox.store import MessageFilter

_MESSAGING_SERVICE_SID: Final = re.compile(r"^MG[0-9a-fA-F]{32}$")
_VALIDITY_RANGE: Final = range(1, 36_001)
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000


@dataclass(frozen=True)
class CreateRequest:
    """A validated ``POST Messages.json``."""

    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    validity_period: int | None


def _blank_to_none(value: str | None) -> str | None:
    return value if value else None


def parse_create(form: Mapping[str, str]) -> CreateRequest:
    """Validate a create form or raise the ``TwilioApiError`` Twilio would answer.

    ``MediaUrl`` and ``ContentSid`` are not simulated, so ``Body`` is required.
    """
    to = _blank_to_none(form.get("To"))
    from_ = _blank_to_none(form.get("From"))
    service = _blank_to_none(form.get("MessagingServiceSid"))
    body = form.get("Body") or ""
    if to is None:
        raise errors.missing_to()
    if from_ is None and service is None:
        raise errors.missing_from()
    if not body:
        raise errors.missing_body()
    if len(body) > MAX_BODY_CHARS:
        raise errors.body_too_long()
    recipient = validate_recipient(to)
    sender = None if from_ is None else validate_sender(from_)
    if service is not None and not _MESSAGING_SERVICE_SID.match(service):
        raise errors.invalid_messaging_service()
    return CreateRequest(
        to=recipient,
        from_=sender,
        messaging_service_sid=service,
        body=body,
        status_callback=_parse_status_callback(form.get("StatusCallback")),
        validity_period=_parse_validity_period(form.get("ValidityPeriod")),
    )


def _parse_validity_period(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        seconds = int(raw)
    except ValueError:
        raise errors.invalid_validity_period() from None
    if seconds not in _VALIDITY_RANGE:
        raise errors.invalid_validity_period()
    return seconds


def _parse_status_callback(raw: str | None) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise errors.invalid_status_callback(raw)
    return raw


@dataclass(frozen=True)
class ListQuery:
    """A validated ``GET Messages.json``: filters plus Twilio's paging parameters."""

    message_filter: MessageFilter
    filter_params: tuple[tuple[str, str], ...]
    page_size: int
    page: int
    page_token: str | None


_FILTER_NAMES: Final = ("To", "From", "DateSent", "DateSent<", "DateSent>")


def parse_list(query: Mapping[str, str]) -> ListQuery:
    """Validate list query parameters (unknown ones are ignored, as Twilio does)."""
    page_size = _parse_int(query, "PageSize", DEFAULT_PAGE_SIZE, minimum=1)
    page = _parse_int(query, "Page", 0, minimum=0)
    filter_params = tuple((name, query[name]) for name in _FILTER_NAMES if query.get(name))
    given = dict(filter_params)
    sent_on = sent_before = sent_after = None
    if "DateSent" in given:
        sent_on = _as_date(_parse_when("DateSent", given["DateSent"]))
    if "DateSent<" in given:
        sent_before = _day_bound(_parse_when("DateSent<", given["DateSent<"]), end=True)
    if "DateSent>" in given:
        sent_after = _day_bound(_parse_when("DateSent>", given["DateSent>"]), end=False)
    return ListQuery(
        message_filter=MessageFilter(
            to=given.get("To"),
            from_=given.get("From"),
            sent_on=sent_on,
            sent_before=sent_before,
            sent_after=sent_after,
        ),
        filter_params=filter_params,
        # Twilio caps the page size rather than rejecting large ones.
        page_size=min(page_size, MAX_PAGE_SIZE),
        page=page,
        page_token=query.get("PageToken") or None,
    )


def _parse_int(query: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid_parameter(name, raw) from None
    if value < minimum:
        raise errors.invalid_parameter(name, raw)
    return value


def _parse_when(name: str, raw: str) -> date | datetime:
    """``YYYY-MM-DD`` (a GMT day) or an ISO 8601 datetime such as the SDK sends."""
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise errors.invalid_parameter(name, raw) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_date(value: date | datetime) -> date:
    """``DateSent`` selects a whole GMT day, even when given a datetime."""
    return value.date() if isinstance(value, datetime) else value


def _day_bound(value: date | datetime, *, end: bool) -> datetime:
    """A datetime bound; a bare day means its first (or last) instant, inclusive."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)
