"""What the web pages need to know beyond booking's own rules (env prefix ``BOOKING_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """Where the staff board finds plans and notify, and how sign-ins are limited."""

    model_config = SettingsConfigDict(env_prefix="BOOKING_", env_file=".env", extra="ignore")

    #: plans and notify as the staff's browser reaches them (CORS_ORIGINS on those two
    #: services must list booking's own origin).
    plans_public_url: str = "http://127.0.0.1:8001"
    notify_public_url: str = "http://127.0.0.1:8003"
    #: Sign-in attempts per minute, per email and per client address.
    login_attempts_per_minute: int = 10
    login_attempts_per_address_per_minute: int = 60
    #: How long a staff sign-in lasts (the board asks to sign in again after).
    staff_session_hours: float = 12.0
    #: How often the board refreshes itself.
    board_refresh_seconds: float = 5.0


@lru_cache(maxsize=1)
def web_settings() -> WebSettings:
    """The web settings, read once per process."""
    return WebSettings()
