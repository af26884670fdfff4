from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class PlansSettings(ServiceSettings):
    """Settings of the plans service (env prefix ``PLANS_``)."""

    model_config = SettingsConfigDict(env_prefix="PLANS_")
    service = "plans"
    default_port = 8001

    #: The clinic's time zone: session windows are dates there.
    clinic_time_zone: str = "Europe/Paris"
