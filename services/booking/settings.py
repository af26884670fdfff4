from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    """Settings of the booking service (env prefix ``BOOKING_``)."""

    model_config = SettingsConfigDict(env_prefix="BOOKING_")
    service = "booking"
    default_port = 8002

    #: Set-up and clean-up time kept free around each appointment, in minutes.
    buffer_before_minutes: int = 5
    buffer_after_minutes: int = 10
