"""How many SMS segments a text costs, as carriers count them (GSM-7 or UCS-2).

A GSM-7 text fits 160 characters alone, 153 per part once split; one character outside
the GSM alphabet makes the whole text UCS-2: 70 alone, 67 per part.
"""

from __future__ import annotations

_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")  # two septets each

#: The clinic's limit: a message longer than this costs too much and reads badly.
MAX_SEGMENTS = 2


def is_gsm7(text: str) -> bool:
    """Whether the whole text travels in the GSM-7 alphabet."""
    return all(ch in _GSM7 or ch in _GSM7_EXTENSION for ch in text)


def count_segments(text: str) -> int:
    """SMS parts ``text`` is split into (at least 1)."""
    if is_gsm7(text):
        units = [2 if ch in _GSM7_EXTENSION else 1 for ch in text]
        single, per_part = 160, 153
    else:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, per_part = 70, 67
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for cost in units:  # an escape pair or a surrogate pair is never split
        if used + cost > per_part:
            segments, used = segments + 1, 0
        used += cost
    return segments
