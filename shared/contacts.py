"""Patient contact data as the clinic accepts it: E.164 phones, IANA time zones."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import AfterValidator


def e164(value: str) -> str:
    """Parse a phone number written in international form; return it as E.164."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as error:
        raise ValueError(
            f"not a phone number in international form (e.g. +33612345678): {error}"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its country")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def iana_time_zone(value: str) -> str:
    """Accept an IANA time zone name such as Europe/Paris."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Paris)") from None
    return value


Phone = Annotated[str, AfterValidator(e164)]
TimeZone = Annotated[str, AfterValidator(iana_time_zone)]
