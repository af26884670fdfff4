"""Phone number validation, Twilio's magic test numbers, and masking for logs."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final

import phonenumbers

from twilio_sandbox import errors

# Twilio's documented test-credential 'To' numbers and the error each one triggers.
_MAGIC_TO: Final[dict[str, Callable[[str], errors.TwilioApiError]]] = {
    "+15005550001": lambda n: errors.invalid_to(n),
    "+15005550002": lambda n: errors.unreachable_to(),
    "+15005550003": lambda n: errors.region_not_permitted(n),
    "+15005550004": lambda n: errors.unsubscribed_recipient(),
    "+15005550009": lambda n: errors.not_mobile(),
}
# Twilio's magic 'From' that test credentials reject as invalid (21212); phonenumbers
# considers it a valid US number, so it needs naming.
_MAGIC_INVALID_FROM: Final = "+15005550001"
# Alphanumeric sender IDs: 1-11 characters, letters, digits and spaces, at least one letter.
_ALPHANUMERIC_SENDER: Final = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


@functools.lru_cache(maxsize=65_536)  # pure, and by far the costliest check of a send
def to_e164(number: str) -> str | None:
    """Return ``number`` in E.164 when it is a valid international number, else None."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def validate_recipient(number: str) -> str:
    """Return the E.164 form of a 'To' number or raise the error Twilio would answer."""
    magic = _MAGIC_TO.get(number.strip())
    if magic is not None:
        raise magic(number)
    e164 = to_e164(number)
    if e164 is None:
        raise errors.invalid_to(number)
    return e164


def validate_sender(sender: str) -> str:
    """Return a normalised 'From': an E.164 number or an alphanumeric sender ID."""
    if sender.startswith("+"):
        e164 = to_e164(sender)
        if e164 is not None and e164 != _MAGIC_INVALID_FROM:
            return e164
        raise errors.invalid_from(sender)
    if _ALPHANUMERIC_SENDER.match(sender):
        return sender
    raise errors.invalid_from(sender)


@functools.lru_cache(maxsize=65_536)
def region_of(number: str) -> str:
    """ISO country code of an E.164 number ('' when unknown), as Twilio's FromCountry."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return ""
    return str(region or "")


def mask(number: str | None) -> str:
    """Mask a phone number for logs: keep the country prefix and the last two digits."""
    if not number:
        return "-"
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
