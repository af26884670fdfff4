"""Settings shared by every service, read from the environment (and `.env` in dev).

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix``
(``PLANS_``, ``BOOKING_``, ``NOTIFY_``) for what is its own; what all three read
the same way (broker, secrets, logging) is unprefixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEV_JWT_SECRET = "dev-only-jwt-secret-do-not-use-in-production"  # noqa: S105


def common(name: str) -> AliasChoices:
    """An unprefixed environment variable, read alike by all services."""
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    """What every service needs: its database, the broker, secrets, logging."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    #: The service's name: its database, consumer group and event source.
    service: ClassVar[str]
    #: The service's dev port (plans 8001, booking 8002, notify 8003).
    default_port: ClassVar[int]

    environment: Literal["dev", "test", "production"] = Field(
        "dev", validation_alias=common("ENVIRONMENT")
    )
    # The service's own database; else derived from DATABASE_URL (same server,
    # database `mesocycle_<service>`), so one server can host all three in dev.
    database_url: str | None = None
    server_database_url: str | None = Field(None, validation_alias=common("DATABASE_URL"))
    db_pool_size: int = 10
    #: Ping a pooled connection before use (one round trip per checkout), so a restarted
    #: database costs no failed request; off trades that for latency.
    db_pool_pre_ping: bool = True
    #: ... but only one idle this long (seconds): one used a moment ago is trusted.
    db_pool_ping_after_idle: float = Field(0.5, ge=0)
    #: Seconds the outbox relay, woken by a commit, waits for more before it publishes:
    #: under load one pass then carries many events, each pass costing two statements
    #: and a round trip to the broker (docs/performance.md); an event waits this long.
    outbox_linger: float = Field(0.005, ge=0, le=1)

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=common("KAFKA_BOOTSTRAP_SERVERS")
    )
    #: Retries never duplicate or reorder a record (every Apache Kafka since 0.11 has it).
    kafka_idempotent_producer: bool = Field(
        True, validation_alias=common("KAFKA_IDEMPOTENT_PRODUCER")
    )
    #: A produce the broker has not acknowledged by then fails (the relay tries again).
    kafka_request_timeout_ms: int = Field(
        15_000, validation_alias=common("KAFKA_REQUEST_TIMEOUT_MS")
    )
    kafka_topic_partitions: int = Field(3, validation_alias=common("KAFKA_TOPIC_PARTITIONS"))
    kafka_topic_replication: int = Field(
        1, validation_alias=common("KAFKA_TOPIC_REPLICATION_FACTOR")
    )
    #: A consumer that stops heartbeating (a crash) loses its partitions after this.
    kafka_session_timeout_ms: int = Field(
        10_000, validation_alias=common("KAFKA_SESSION_TIMEOUT_MS")
    )
    #: A third of the session at most; also how soon a member hears of a rebalance.
    kafka_heartbeat_interval_ms: int = Field(
        1_000, validation_alias=common("KAFKA_HEARTBEAT_INTERVAL_MS")
    )
    #: How long the group waits for its members to rejoin in a rebalance.
    kafka_rebalance_timeout_ms: int = Field(
        30_000, validation_alias=common("KAFKA_REBALANCE_TIMEOUT_MS")
    )
    #: A consumer that goes this long without polling (a stuck batch) leaves the group.
    kafka_max_poll_interval_ms: int = Field(
        300_000, validation_alias=common("KAFKA_MAX_POLL_INTERVAL_MS")
    )
    #: Metadata is refreshed at least this often, so new topics and partitions are seen.
    kafka_metadata_max_age_ms: int = Field(
        30_000, validation_alias=common("KAFKA_METADATA_MAX_AGE_MS")
    )
    #: A consumer group name suffix, so parallel test runs on one broker stay apart.
    kafka_group_suffix: str = Field("", validation_alias=common("KAFKA_GROUP_SUFFIX"))
    #: Put before every topic name on the broker (``clinic-a.plans.events``): systems
    #: sharing one broker (two clinics, two test stacks) never see each other's events.
    kafka_topic_prefix: str = Field("", validation_alias=common("KAFKA_TOPIC_PREFIX"))
    consumer_max_attempts: int = Field(3, validation_alias=common("CONSUMER_MAX_ATTEMPTS"))
    #: /readyz fails once a partition has had events waiting this long with no commit.
    consumer_stall_seconds: float = Field(
        60.0, gt=0, validation_alias=common("CONSUMER_STALL_SECONDS")
    )

    jwt_secret: SecretStr = Field(SecretStr(DEV_JWT_SECRET), validation_alias=common("JWT_SECRET"))
    #: Browser origins allowed to call the API (the staff board and self-booking pages
    #: are served by booking and call plans and notify too), comma-separated.
    cors_origins: str = Field("", validation_alias=common("CORS_ORIGINS"))
    log_level: str = Field("INFO", validation_alias=common("LOG_LEVEL"))
    log_json: bool = Field(True, validation_alias=common("LOG_JSON"))

    #: Dev, demos and tests only: a file holding a time offset in seconds or a pinned
    #: instant, read by every process of a stack (see ShiftableClock).
    clock_file: Path | None = Field(None, validation_alias=common("CLOCK_FILE"))

    #: Published outbox rows, processed-event ids and idempotency keys are forgotten after
    #: this many days: longer than the broker keeps events (7 days), see shared.retention.
    retention_days: int = Field(14, ge=8, validation_alias=common("RETENTION_DAYS"))
    prune_interval_seconds: float = Field(3600.0, validation_alias=common("PRUNE_INTERVAL_SECONDS"))
    prune_batch_size: int = Field(1000, ge=1, validation_alias=common("PRUNE_BATCH_SIZE"))

    port: int | None = None
    #: Run the outbox relay and the consumers inside the API process.
    run_workers: bool = True

    @model_validator(mode="after")
    def _no_dev_shortcuts_in_production(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        if self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set in production")
        if self.clock_file is not None:
            raise ValueError("CLOCK_FILE (time travel) is for dev and demos, not production")
        return self

    def topic(self, name: str) -> str:
        """A topic's name on the broker."""
        return self.kafka_topic_prefix + name

    @property
    def http_port(self) -> int:
        return self.port or self.default_port

    @property
    def allowed_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def consumer_group(self) -> str:
        return f"{self.service}{self.kafka_group_suffix}"

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL of this service's own database (asyncpg driver)."""
        if self.database_url:
            url = make_url(self.database_url)
        elif self.server_database_url:
            url = make_url(self.server_database_url).set(database=f"mesocycle_{self.service}")
        else:
            raise RuntimeError(
                f"No database configured: set {self.service.upper()}_DATABASE_URL or "
                "DATABASE_URL (`make dev` starts an embedded PostgreSQL and sets it)"
            )
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
