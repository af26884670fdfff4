"""Twilio's REST error bodies, so the official SDK raises the same ``TwilioRestException``.

The SDK builds its exception from the JSON body's ``code``, ``message``, ``more_info`` and
``status`` (see ``twilio.base.version.Version.exception``); the messages below follow the
wording Twilio uses for each code.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

_MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class TwilioApiError(Exception):
    """An error the sandbox answers the way Twilio's REST API would."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        """Return the JSON error body Twilio sends."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": _MORE_INFO.format(code=self.code),
            "status": self.status,
        }

    def to_response(self) -> JSONResponse:
        """Render the error as an HTTP response."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def authentication_failed() -> TwilioApiError:
    """20003: missing or wrong account SID / auth token."""
    return TwilioApiError(
        401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'}
    )


def not_found(path: str) -> TwilioApiError:
    """20404: unknown resource."""
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")


def too_many_requests() -> TwilioApiError:
    """20429: the account's API concurrency limit was hit."""
    return TwilioApiError(429, 20429, "Too Many Requests")


def internal_error() -> TwilioApiError:
    """20500: Twilio had an internal failure."""
    return TwilioApiError(500, 20500, "An internal server error has occurred")


def invalid_parameter(name: str, value: str) -> TwilioApiError:
    """20001: a request parameter Twilio cannot interpret."""
    return TwilioApiError(400, 20001, f"Invalid value for parameter {name}: {value!r}")


def missing_to() -> TwilioApiError:
    """21604: no ``To``."""
    return TwilioApiError(400, 21604, "A 'To' phone number is required.")


def missing_from() -> TwilioApiError:
    """21603: neither ``From`` nor ``MessagingServiceSid``."""
    return TwilioApiError(400, 21603, "A 'From' phone number is required.")


def missing_body() -> TwilioApiError:
    """21602: no ``Body``."""
    return TwilioApiError(400, 21602, "Message body is required.")


def body_too_long() -> TwilioApiError:
    """21617: ``Body`` over 1600 characters."""
    return TwilioApiError(
        400, 21617, "The concatenated message body exceeds the 1600 character limit."
    )


def invalid_to(number: str) -> TwilioApiError:
    """21211: ``To`` is not a valid phone number."""
    return TwilioApiError(400, 21211, f"The 'To' number {number} is not a valid phone number.")


def invalid_from(sender: str) -> TwilioApiError:
    """21212: ``From`` is neither a phone number nor an alphanumeric sender ID."""
    return TwilioApiError(
        400,
        21212,
        f"The 'From' number {sender} is not a valid phone number, shortcode, "
        "or alphanumeric sender ID.",
    )


def unsubscribed_recipient() -> TwilioApiError:
    """21610: the recipient replied STOP (or was opted out)."""
    return TwilioApiError(400, 21610, "Attempt to send to unsubscribed recipient")


def unreachable_to() -> TwilioApiError:
    """21612: the destination cannot be reached via SMS."""
    return TwilioApiError(400, 21612, "The 'To' phone number is not currently reachable via SMS.")


def region_not_permitted(number: str) -> TwilioApiError:
    """21408: the account may not send to the destination's region."""
    return TwilioApiError(
        400,
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by "
        f"the 'To' number: {number}.",
    )


def not_mobile() -> TwilioApiError:
    """21614: ``To`` is a landline or otherwise not SMS-capable."""
    return TwilioApiError(400, 21614, "'To' number is not a valid mobile number")


def invalid_validity_period() -> TwilioApiError:
    """21624: ``ValidityPeriod`` outside 1..36000 seconds."""
    return TwilioApiError(
        400,
        21624,
        "Validity period can only be set to integers between 1 and 36,000 seconds.",
    )


def invalid_status_callback(url: str) -> TwilioApiError:
    """21609: ``StatusCallback`` is not an absolute http(s) URL."""
    return TwilioApiError(400, 21609, f"The StatusCallback URL {url} is not a valid URL.")


def invalid_messaging_service() -> TwilioApiError:
    """21705: ``MessagingServiceSid`` does not match the ``MG`` SID pattern."""
    return TwilioApiError(400, 21705, "The Messaging Service is invalid")
