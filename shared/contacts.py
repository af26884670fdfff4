"""Patient contact data as the clinic accepts it: E.164 phones, IANA time zones, with the
JSON Schema of what the APIs take."""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import available_timezones

import phonenumbers
from pydantic import AfterValidator, WithJsonSchema


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


#: A phone number in international form: "+", the country code, then digits with spaces,
#: dots, dashes or parentheses between them (stored as E.164: +33612345678).
PHONE_PATTERN = r"^\+[1-9][0-9 ().-]{4,28}[0-9]$"
_PHONE = re.compile(PHONE_PATTERN)


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError(
            "not a phone number in international form: +, the country code, then digits "
            "(spaces, dots, dashes and parentheses allowed), e.g. +33612345678"
        )
    return e164(value)


#: A phone number as the APIs take it: the form above, and a valid number for its country.
PhoneNumber = Annotated[
    str,
    AfterValidator(_phone),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": PHONE_PATTERN,
            "description": "International form, e.g. +33 6 12 34 56 78, and a valid number "
            "for its country; answered as E.164 (+33612345678)",
        }
    ),
]

#: The IANA time zones this server knows (its tz database).
TIME_ZONES = frozenset(available_timezones())


def _time_zone(value: str) -> str:
    if value not in TIME_ZONES:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Paris)")
    return value


#: An IANA time zone name such as Europe/Paris.
IanaTimeZone = Annotated[
    str,
    AfterValidator(_time_zone),
    WithJsonSchema({"type": "string", "enum": sorted(TIME_ZONES), "description": "IANA time zone"}),
]
