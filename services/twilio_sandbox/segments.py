"""SMS segment counting the way carriers (and Twilio's ``num_segments``) do it.

A body that fits the GSM-7 alphabet travels in 7-bit septets: 160 in a single SMS, 153
per part once concatenated (the user data header takes 7). Anything else is sent as
UCS-2: 70 UTF-16 code units alone, 67 per part. Escape sequences (GSM extension table)
and surrogate pairs are never split across parts, which is why packing is greedy rather
than a plain ceiling division.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# GSM 03.38 basic character set, without the escape character itself.
_GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each of these costs two septets (ESC + char).
_GSM7_EXTENSION: Final = frozenset("^{}\\[~]|€\f")

MAX_BODY_CHARS: Final = 1600


class Encoding(StrEnum):
    """How an SMS body is encoded on the air interface."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


_LIMITS: Final = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


def encoding_of(body: str) -> Encoding:
    """Return GSM-7 when every character is in the GSM alphabet, else UCS-2."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in body):
        return Encoding.GSM7
    return Encoding.UCS2


def _units(body: str, encoding: Encoding) -> list[int]:
    """Cost of each character in septets (GSM-7) or UTF-16 code units (UCS-2)."""
    if encoding is Encoding.GSM7:
        return [2 if ch in _GSM7_EXTENSION else 1 for ch in body]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in body]


def count_segments(body: str) -> int:
    """Number of SMS parts ``body`` is split into (at least 1)."""
    encoding = encoding_of(body)
    single, per_part = _LIMITS[encoding]
    units = _units(body, encoding)
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for cost in units:
        if used + cost > per_part:
            segments += 1
            used = 0
        used += cost
    return segments
