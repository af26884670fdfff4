"""Settings of the Twilio sandbox, read from ``TWILIO_SANDBOX_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: A fixed, obviously fake account SID so dev and test credentials are stable across runs.
# The same dev credentials notify defaults to, so the two agree out of the box.
DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - a dev-only credential, public on purpose
#: Twilio's documented "magic" sender number for test credentials; used as the sender a
#: Messaging Service picks, since the sandbox has no real number pool.
DEV_MESSAGING_SERVICE_SENDER = "+15005550006"


class SandboxConfig(BaseSettings):
    """How the sandbox authenticates callers, where it sends webhooks and how fast it delivers.

    Every field can be set from the environment, e.g. ``TWILIO_SANDBOX_PORT=8099``.
    ``inbound_webhook_url`` and ``delivery_delay_seconds`` are only the starting values:
    the control API (``PATCH /_sandbox/settings``) can change them while the sandbox runs.
    """

    model_config = SettingsConfigDict(env_prefix="TWILIO_SANDBOX_", extra="ignore")

    account_sid: str = Field(default=DEV_ACCOUNT_SID, pattern=r"^AC[0-9a-f]{32}$")
    auth_token: str = Field(default=DEV_AUTH_TOKEN, min_length=1)
    inbound_webhook_url: str | None = None
    delivery_delay_seconds: float = Field(default=0.2, ge=0)
    messaging_service_sender: str = DEV_MESSAGING_SERVICE_SENDER
    host: str = "127.0.0.1"
    port: int = Field(default=8099, ge=0, le=65535)
    callback_timeout_seconds: float = Field(default=5.0, gt=0)
    #: How long an idle kept-alive connection stays open (uvicorn's ``timeout_keep_alive``):
    #: tests shorten it to see clients reuse a connection the server has closed.
    keep_alive_seconds: int = Field(default=5, ge=1)
