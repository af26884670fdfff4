"""The event contract: a CloudEvents 1.0 envelope in the Kafka protocol binding.

Events travel in *binary content mode*: the CloudEvents attributes are Kafka
headers (``ce_id``, ``ce_type``, ...), the record value is the JSON ``data`` and
the record key is the patient id, so one patient's events stay in order. An event may
carry the CloudEvents distributed-tracing extension (``ce_traceparent``,
``ce_tracestate``): the trace it belongs to (see :mod:`shared.tracing`).

Payload models live in :mod:`shared.contracts`; each names its versioned
``type`` and is registered here, so producer and consumer use one definition.
Payloads ignore fields they do not know: a v1 consumer accepts a v1 event from
a newer producer. A breaking change is a new ``type`` version.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

TOPICS = {"plans": "plans.events", "booking": "booking.events", "notify": "notify.events"}


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}.dlq"


class Payload(BaseModel):
    """Base of every event payload: its CloudEvents ``type`` and the topic it goes to."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: ClassVar[str]
    topic: ClassVar[str]

    def subject(self) -> str | None:
        """The CloudEvents ``subject``: what the event is about (an id)."""
        return None


P = TypeVar("P", bound=Payload)

#: Every CloudEvents type a payload model claims: one model per type.
_REGISTERED: set[str] = set()


def event_type(type_: str, *, topic: str) -> Any:
    """Class decorator: give a payload model its CloudEvents type and topic."""

    def register(cls: type[P]) -> type[P]:
        if type_ in _REGISTERED:
            raise ValueError(f"event type {type_} is registered twice")
        cls.type = type_
        cls.topic = topic
        _REGISTERED.add(type_)
        return cls

    return register


@dataclass(frozen=True)
class Event(Generic[P]):
    """A CloudEvent: attributes plus a typed payload."""

    id: uuid.UUID
    source: str
    time: datetime
    key: str
    data: P
    subject: str | None = None

    @property
    def type(self) -> str:
        return self.data.type

    @property
    def topic(self) -> str:
        return self.data.topic

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """CloudEvents attributes as Kafka headers (binary content mode)."""
        return kafka_headers(
            id=self.id, source=self.source, type=self.type, time=self.time, subject=self.subject
        )

    def kafka_value(self) -> bytes:
        return self.data.model_dump_json().encode()


def kafka_headers(
    *,
    id: uuid.UUID,
    source: str,
    type: str,
    time: datetime,
    subject: str | None,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> list[tuple[str, bytes]]:
    """CloudEvents attributes as Kafka headers (binary content mode), with the
    distributed-tracing extension when the event is part of a trace."""
    attributes = {
        "ce_specversion": SPECVERSION,
        "ce_id": str(id),
        "ce_source": source,
        "ce_type": type,
        "ce_time": time.isoformat(),
        "content-type": CONTENT_TYPE,
    }
    optional = {"ce_subject": subject, "ce_traceparent": traceparent, "ce_tracestate": tracestate}
    attributes.update({name: value for name, value in optional.items() if value})
    return [(name, value.encode()) for name, value in attributes.items()]


def new_event(data: P, *, source: str, key: str, now: datetime) -> Event[P]:
    """A new event about ``key`` (the patient id) with a fresh id."""
    return Event(
        id=uuid.uuid4(), source=source, time=now, key=key, data=data, subject=data.subject()
    )


class MalformedEvent(Exception):
    """A record that is not a valid CloudEvent of a known shape: it goes to the DLQ."""


@dataclass(frozen=True)
class RawEvent:
    """The CloudEvents attributes of a record, read before the payload is typed."""

    id: uuid.UUID
    type: str
    source: str
    time: datetime
    subject: str | None
    key: str
    value: bytes
    #: The distributed-tracing extension: the trace the event belongs to, if any.
    traceparent: str | None = None
    tracestate: str | None = None


def read_record(key: bytes | None, value: bytes | None, headers: Any) -> RawEvent:
    """Read the CloudEvents attributes of a Kafka record (binary content mode)."""
    attributes = {name: raw.decode(errors="replace") for name, raw in (headers or [])}
    missing = [a for a in ("ce_id", "ce_type", "ce_source", "ce_time") if a not in attributes]
    if missing:
        raise MalformedEvent(f"not a CloudEvent: missing header(s) {', '.join(missing)}")
    if attributes.get("ce_specversion") != SPECVERSION:
        raise MalformedEvent(f"unsupported specversion {attributes.get('ce_specversion')!r}")
    try:
        event_id = uuid.UUID(attributes["ce_id"])
        time = datetime.fromisoformat(attributes["ce_time"])
    except ValueError as error:
        raise MalformedEvent(f"bad CloudEvents attribute: {error}") from error
    if value is None:
        raise MalformedEvent("record has no value")
    return RawEvent(
        id=event_id,
        type=attributes["ce_type"],
        source=attributes["ce_source"],
        time=time,
        subject=attributes.get("ce_subject"),
        key=(key or b"").decode(errors="replace"),
        value=value,
        traceparent=attributes.get("ce_traceparent"),
        tracestate=attributes.get("ce_tracestate"),
    )


def parse_payload(raw: RawEvent, model: type[P]) -> Event[P]:
    """Type a record's payload; a payload that does not fit its model is malformed."""
    try:
        data = model.model_validate(json.loads(raw.value))
    # RecursionError: a hostile, deeply nested JSON value must not stall a consumer.
    except (ValueError, ValidationError, RecursionError) as error:
        raise MalformedEvent(f"{raw.type} payload does not validate: {error}") from error
    return Event(
        id=raw.id, source=raw.source, time=raw.time, key=raw.key, data=data, subject=raw.subject
    )
