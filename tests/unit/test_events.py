"""The CloudEvents envelope: binary content mode over Kafka headers, read back exactly."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from shared.events import (
    SPECVERSION,
    MalformedEvent,
    Payload,
    dlq_topic,
    event_type,
    new_event,
    parse_payload,
    read_record,
)
from tests.clock import TEST_NOW

TOPIC = "test.unit.events"


@event_type("test.unit.events.visit_noted.v1", topic=TOPIC)
class VisitNoted(Payload):
    patient_id: uuid.UUID
    appointment_id: uuid.UUID
    note: str
    sessions_left: int

    def subject(self) -> str:
        return str(self.appointment_id)


def a_visit() -> VisitNoted:
    return VisitNoted(
        patient_id=uuid.uuid4(), appointment_id=uuid.uuid4(), note="tolerated", sessions_left=3
    )


def header_list(headers: dict[str, bytes]) -> list[tuple[str, bytes]]:
    return list(headers.items())


def test_an_event_round_trips_through_kafka_headers_and_value() -> None:
    data = a_visit()
    # A non-UTC offset and microseconds: the instant must survive exactly.
    now = datetime(2026, 11, 24, 22, 18, 49, 123456, tzinfo=timezone(timedelta(hours=1)))
    event = new_event(data, source="/tests/unit", key=str(data.patient_id), now=now)

    headers = event.kafka_headers()
    raw = read_record(event.key.encode(), event.kafka_value(), tuple(headers))
    back = parse_payload(raw, VisitNoted)

    assert dict(headers)["ce_specversion"] == SPECVERSION.encode()
    assert dict(headers)["content-type"] == b"application/json"
    assert back.id == event.id
    assert back.type == "test.unit.events.visit_noted.v1" == event.type
    assert back.source == "/tests/unit"
    assert back.time == now
    assert back.time.utcoffset() == timedelta(hours=1)
    assert back.subject == str(data.appointment_id) == event.subject
    assert back.key == str(data.patient_id)
    assert back.data == data
    assert back.topic == TOPIC
    assert back == event


def test_new_event_gives_each_event_a_fresh_id() -> None:
    data = a_visit()
    now = TEST_NOW
    first = new_event(data, source="/tests/unit", key="k", now=now)
    second = new_event(data, source="/tests/unit", key="k", now=now)
    assert first.id != second.id


def test_an_event_without_subject_sends_no_subject_header() -> None:
    @event_type(f"test.unit.events.no_subject.{uuid.uuid4().hex}.v1", topic=TOPIC)
    class Anonymous(Payload):
        value: int

    event = new_event(Anonymous(value=1), source="/tests/unit", key="k", now=TEST_NOW)
    headers = event.kafka_headers()
    assert "ce_subject" not in dict(headers)
    raw = read_record(b"k", event.kafka_value(), headers)
    assert raw.subject is None


def valid_headers() -> dict[str, bytes]:
    event = new_event(a_visit(), source="/tests/unit", key="k", now=TEST_NOW)
    return dict(event.kafka_headers())


@pytest.mark.parametrize("missing", ["ce_id", "ce_type", "ce_source", "ce_time"])
def test_a_record_missing_a_required_header_is_malformed(missing: str) -> None:
    headers = valid_headers()
    del headers[missing]
    with pytest.raises(MalformedEvent, match=f"missing header.*{missing}"):
        read_record(b"k", b"{}", header_list(headers))


def test_a_record_without_any_header_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="not a CloudEvent"):
        read_record(b"k", b"{}", None)


@pytest.mark.parametrize("specversion", [b"0.3", b"2.0", b""])
def test_a_record_of_another_specversion_is_malformed(specversion: bytes) -> None:
    headers = valid_headers()
    headers["ce_specversion"] = specversion
    with pytest.raises(MalformedEvent, match="specversion"):
        read_record(b"k", b"{}", header_list(headers))


def test_a_record_without_specversion_is_malformed() -> None:
    headers = valid_headers()
    del headers["ce_specversion"]
    with pytest.raises(MalformedEvent, match="specversion"):
        read_record(b"k", b"{}", header_list(headers))


@pytest.mark.parametrize(
    ("header", "value"), [("ce_id", b"not-a-uuid"), ("ce_time", b"yesterday at noon")]
)
def test_a_record_with_an_unreadable_attribute_is_malformed(header: str, value: bytes) -> None:
    headers = valid_headers()
    headers[header] = value
    with pytest.raises(MalformedEvent, match="bad CloudEvents attribute"):
        read_record(b"k", b"{}", header_list(headers))


def test_a_record_without_value_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="no value"):
        read_record(b"k", None, header_list(valid_headers()))


@pytest.mark.parametrize(
    "value",
    [
        b"not json at all",
        b"\xff\xfe",
        b"[1, 2, 3]",
        json.dumps({"patient_id": str(uuid.uuid4()), "note": "no appointment"}).encode(),
        json.dumps(
            {
                "patient_id": str(uuid.uuid4()),
                "appointment_id": str(uuid.uuid4()),
                "note": "x",
                "sessions_left": "three",
            }
        ).encode(),
    ],
)
def test_a_payload_that_does_not_fit_its_model_is_malformed(value: bytes) -> None:
    raw = read_record(b"k", value, header_list(valid_headers()))
    with pytest.raises(MalformedEvent, match="does not validate"):
        parse_payload(raw, VisitNoted)


def test_a_v1_payload_with_an_unknown_field_is_accepted() -> None:
    data = a_visit()
    document = {**data.model_dump(mode="json"), "added_in_a_later_release": {"x": 1}}
    raw = read_record(b"k", json.dumps(document).encode(), header_list(valid_headers()))
    assert parse_payload(raw, VisitNoted).data == data


def test_registering_the_same_type_twice_raises_and_keeps_the_first() -> None:
    name = f"test.unit.events.twice.{uuid.uuid4().hex}.v1"

    @event_type(name, topic=TOPIC)
    class First(Payload):
        pass

    class Second(Payload):
        pass

    register_again = event_type(name, topic="another.topic")
    with pytest.raises(ValueError, match="registered twice"):
        register_again(Second)
    assert (First.type, First.topic) == (name, TOPIC)


def test_the_dead_letter_topic_is_the_topic_with_dlq_suffix() -> None:
    assert dlq_topic("plans.events") == "plans.events.dlq"
