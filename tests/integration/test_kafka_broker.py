"""The broker of the tests and ``make dev`` is Apache Kafka, configured as the services expect.

One KRaft node (broker and controller), topics created only on purpose, the idempotent
producer working, and a data directory that keeps records and committed offsets
across a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import UnknownTopicOrPartitionError

from devstack.kafka import apache_kafka, kafka_version
from devstack.ports import free_port
from shared.contracts.plans import PatientErased
from shared.events import new_event
from tests.clock import TEST_NOW
from tests.kafka_records import read_topic


@contextlib.asynccontextmanager
async def admin_client(bootstrap_servers: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def broker(data_dir: Path, log_dir: Path, port: int | None = None) -> AsyncIterator[str]:
    """A broker of the test's own on ``data_dir`` (started and stopped off the loop)."""
    running = apache_kafka(data_dir, log_dir, port=port)
    servers = await asyncio.to_thread(running.__enter__)
    try:
        yield servers
    finally:
        await asyncio.to_thread(running.__exit__, None, None, None)


async def new_topic(bootstrap_servers: str, partitions: int = 1) -> str:
    topic = f"test.broker.{uuid.uuid4().hex[:12]}"
    async with admin_client(bootstrap_servers) as admin:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    return topic


async def broker_config(bootstrap_servers: str) -> dict[str, str | None]:
    async with admin_client(bootstrap_servers) as admin:
        [node] = (await admin.describe_cluster())["brokers"]
        resource = ConfigResource(ConfigResourceType.BROKER, str(node["node_id"]))
        [response] = await admin.describe_configs([resource])
    [(error_code, _message, _type, _name, entries)] = response.resources
    assert error_code == 0
    config: dict[str, str | None] = {entry[0]: entry[1] for entry in entries}
    return config


async def test_the_session_broker_is_one_kraft_node_of_apache_kafka(
    bootstrap_servers: str, workdir: Path
) -> None:
    async with admin_client(bootstrap_servers) as admin:
        cluster: dict[str, Any] = await admin.describe_cluster()
    [node] = cluster["brokers"]
    assert cluster["controller_id"] == node["node_id"]
    config = await broker_config(bootstrap_servers)
    assert set((config["process.roles"] or "").split(",")) == {"broker", "controller"}
    assert config["auto.create.topics.enable"] == "false"
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:  # the broker conftest started
        log = (workdir / "broker.log").read_text()
        assert f"Kafka version: {kafka_version()}" in log


async def test_an_idempotent_producer_publishes_with_acks_all(bootstrap_servers: str) -> None:
    topic = await new_topic(bootstrap_servers)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        written = [await producer.send_and_wait(topic, f"{n}".encode(), key=b"k") for n in range(3)]
    finally:
        await producer.stop()
    assert [metadata.offset for metadata in written] == [0, 1, 2]
    records = await read_topic(bootstrap_servers, topic, partitions=1)
    assert [record.value for record in records] == [b"0", b"1", b"2"]


async def test_producing_to_an_unknown_topic_fails_and_creates_nothing(
    bootstrap_servers: str,
) -> None:
    topic = f"test.broker.unknown.{uuid.uuid4().hex[:12]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, request_timeout_ms=2000)
    await producer.start()
    try:
        # The producer asks for the topic's metadata, which would create it were
        # auto-creation on; the broker answers that it does not exist.
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.send_and_wait(topic, b"lost")
    finally:
        await producer.stop()
    async with admin_client(bootstrap_servers) as admin:
        assert topic not in await admin.list_topics()


async def test_a_restart_on_the_same_data_keeps_records_and_committed_offsets(
    tmp_path: Path,
) -> None:
    data, group = tmp_path / "data", "test-broker-restart"
    async with broker(data, tmp_path) as servers:
        topic = await new_topic(servers, partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
        await producer.start()
        try:
            for n in range(3):
                await producer.send_and_wait(topic, f"{n}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=servers, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.commit({TopicPartition(topic, 0): 2})
        finally:
            await consumer.stop()

    # Started again, on another port: the same topic, records and group offset.
    port = free_port()
    while servers.endswith(f":{port}"):
        port = free_port()
    async with broker(data, tmp_path, port) as again:
        values = [record.value for record in await read_topic(again, topic, partitions=1)]
        assert values == [b"0", b"1", b"2"]
        async with admin_client(again) as admin:
            committed = await admin.list_consumer_group_offsets(group)
        assert {tp: position.offset for tp, position in committed.items()} == {
            TopicPartition(topic, 0): 2
        }


async def test_a_stock_kafka_client_lists_the_topics_and_reads_cloudevents_headers(
    bootstrap_servers: str,
) -> None:
    """kcat (librdkafka, from Debian) reads what our producers write, headers included."""
    topic = await new_topic(bootstrap_servers)
    event = new_event(
        PatientErased(patient_id=uuid.uuid4()), source="/tests/kcat", key="k", now=TEST_NOW
    )
    async with contextlib.AsyncExitStack() as stack:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True)
        await producer.start()
        stack.push_async_callback(producer.stop)
        await producer.send_and_wait(
            topic, event.kafka_value(), key=b"k", headers=event.kafka_headers()
        )

    def kcat(*args: str) -> str:
        done = subprocess.run(
            ["kcat", "-b", bootstrap_servers, *args],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return done.stdout

    listing = await asyncio.to_thread(kcat, "-L")
    assert f'topic "{topic}" with 1 partitions' in listing
    read = await asyncio.to_thread(kcat, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%h")
    headers = dict(pair.split("=", 1) for pair in read.strip().split(","))
    assert headers["ce_type"] == PatientErased.type
    assert headers["ce_id"] == str(event.id)
    assert headers["ce_specversion"] == "1.0"
