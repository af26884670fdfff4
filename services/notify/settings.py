"""Settings of the notify service."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, common

SANDBOX_ACCOUNT_SID = "AC" + "0" * 32
SANDBOX_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105


class NotifySettings(ServiceSettings):
    """Settings of the notify service (env prefix ``NOTIFY_``; Twilio's unprefixed)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFY_")
    service = "notify"
    default_port = 8003

    twilio_account_sid: str = Field(
        SANDBOX_ACCOUNT_SID, validation_alias=common("TWILIO_ACCOUNT_SID")
    )
    twilio_auth_token: SecretStr = Field(
        SecretStr(SANDBOX_AUTH_TOKEN), validation_alias=common("TWILIO_AUTH_TOKEN")
    )
    twilio_from_number: str = Field("+15005550006", validation_alias=common("TWILIO_FROM_NUMBER"))
    #: The Twilio API's base URL: unset in production; the repo's sandbox in dev and tests.
    twilio_api_base_url: str | None = Field(None, validation_alias=common("TWILIO_API_BASE_URL"))
    #: notify's public URL, as Twilio calls it: webhooks are signed against it.
    public_url: str = "http://127.0.0.1:8003"
    clinic_name: str = "the clinic"

    #: The zone of messages to a patient notify knows nothing of yet.
    clinic_time_zone: str = "Europe/Paris"

    dispatch_batch_size: int = 100
    dispatch_interval_seconds: float = 0.2
    #: How long a dispatcher owns a claimed message before another may look at it.
    dispatch_lease_seconds: int = 60
    #: SMS segments per second this dispatcher sends from its number (a long code: ~1).
    #: With N dispatcher replicas, give each 1/N of the sender's rate. None: no limit.
    sms_segments_per_second: float | None = 1.0
    sms_burst_segments: int = 10
    #: A send with no answer after this long may have reached Twilio: it becomes unknown.
    send_timeout_seconds: float = 10.0
    #: How long an idle connection to Twilio is kept for the next send: below the idle
    #: timeout of the server at the other end (uvicorn's 5 s; load balancers' ~60 s), so
    #: a connection the server has closed is rarely reused (when it is, see notify.adapters.sms).
    twilio_keepalive_seconds: float = 4.0
    #: Backoff of sends Twilio refused for now (429): base, cap, and when to give up.
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    max_send_attempts: int = 8
    #: An unknown send Twilio still does not list this long after the attempt never
    #: reached it, and is sent again. Looked at every interval: grace + interval (55 s)
    #: is the longest a send stays in doubt.
    reconcile_grace_seconds: float = 40.0
    reconcile_interval_seconds: float = 15.0
    #: After a policy change, upcoming appointments re-planned per transaction, and how
    #: often the worker looks for a change.
    replan_batch_size: int = 100
    replan_interval_seconds: float = 5.0
