"""aiokafka clients configured from settings, and topic creation."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events import TOPICS, dlq_topic
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


def all_topics(prefix: str = "") -> list[str]:
    """Every topic of the system with its dead-letter topic, as named on the broker."""
    return [prefix + name for topic in TOPICS.values() for name in (topic, dlq_topic(topic))]


def new_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica (acks=all), idempotent by default."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service}-producer",
        acks="all",
        enable_idempotence=settings.kafka_idempotent_producer,
        linger_ms=5,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
    )


def new_consumer(settings: ServiceSettings, topics: Iterable[str]) -> AIOKafkaConsumer:
    """A consumer in the service's group; offsets are committed by hand after the DB commit."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service}-consumer",
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
        max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
        # Never a record of a transaction that aborted (the outbox does not use
        # transactions today; a transactional producer may write these topics later).
        isolation_level="read_committed",
    )


async def ensure_topics(settings: ServiceSettings, topics: Iterable[str] | None = None) -> None:
    """Create the topics that do not exist yet (idempotent, safe for concurrent callers)."""
    wanted = list(topics if topics is not None else all_topics(settings.kafka_topic_prefix))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name,
                num_partitions=settings.kafka_topic_partitions,
                replication_factor=settings.kafka_topic_replication,
            )
            for name in wanted
            if name not in existing
        ]
        if missing:
            # Another service may create them meanwhile: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


async def ping(producer: AIOKafkaProducer) -> None:
    """Raise unless the broker answers a metadata request."""
    await producer.client.fetch_all_metadata()
