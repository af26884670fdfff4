"""An iCalendar (RFC 5545) feed of a practitioner's appointments, written by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

PRODUCT = "-//mesocycle//booking//EN"


@dataclass(frozen=True)
class CalendarEntry:
    appointment_id: uuid.UUID
    version: int
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str
    cancelled: bool


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11)."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets, continuation lines starting with a space (3.1)."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1  # never split a UTF-8 character
        parts.append(encoded[start:end].decode())
        start, limit = end, 74
    return "\r\n ".join(parts)


def ical_feed(name: str, entries: Iterable[CalendarEntry], *, now: datetime) -> str:
    """A VCALENDAR with one VEVENT per appointment; lines end in CRLF as the RFC says."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODUCT}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_text(name)}",
    ]
    for entry in entries:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{entry.appointment_id}@mesocycle",
            f"DTSTAMP:{_instant(now)}",
            f"DTSTART:{_instant(entry.starts_at)}",
            f"DTEND:{_instant(entry.ends_at)}",
            f"SEQUENCE:{entry.version}",
            f"SUMMARY:{_text(entry.summary)}",
            f"DESCRIPTION:{_text(entry.description)}",
            f"STATUS:{'CANCELLED' if entry.cancelled else 'CONFIRMED'}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
