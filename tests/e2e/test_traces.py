"""One trace from a plan's activation to the SMS, across the services' real processes.

The stack here runs with ``OTEL_TRACES_EXPORTER=otlp``: every service exports its spans
over OTLP/HTTP to a small collector this module runs, and the tests read the traces
from it (and the events from Kafka). A trace is followed from the SMS's send span up
through its parents, so each hop is proven, not merely a shared trace id.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

from devstack.demo import seed
from devstack.stack import Stack
from shared.contracts.booking import AppointmentBooked, BookingInvitationIssued
from shared.contracts.plans import CycleScheduled, PatientRegistered
from tests.e2e.conftest import (
    PARIS,
    isolated_stack,
    outboxes_drained,
    paris_today,
    staff_client,
)
from tests.e2e.sms import Sms, sent_sms
from tests.kafka_records import Record, consumed_past, find_records, headers_of, read_topic
from tests.polling import eventually

#: A W3C traceparent: version, trace id, parent span id, flags.
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
TOPICS = ("plans.events", "booking.events", "notify.events")


@dataclass(frozen=True)
class Span:
    """One exported span: which service sent it, and where it sits in its trace."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    return getattr(value, which) if which else None


def _attributes(pairs: Any) -> dict[str, Any]:
    items: list[KeyValue] = list(pairs)
    return {pair.key: _value(pair.value) for pair in items}


class Collector:
    """A minimal OTLP/HTTP trace receiver (protobuf): keeps every span it is sent."""

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver(self))

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1/traces"

    @contextlib.contextmanager
    def running(self) -> Iterator[Collector]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()

    def receive(self, request: ExportTraceServiceRequest) -> None:
        received = [
            Span(
                service=_attributes(resource.resource.attributes)["service.name"],
                name=span.name,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_id=span.parent_span_id.hex(),
                kind=span.kind,
                attributes=_attributes(span.attributes),
            )
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        with self._lock:
            self._spans.extend(received)

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    async def span(self, match: Callable[[Span], bool], what: str) -> Span:
        """The one span that ``match`` describes, once exported."""

        async def probe() -> Span | None:
            return next((s for s in self.spans() if match(s)), None)

        return await eventually(probe, what=what)

    async def ancestry(self, span: Span) -> list[Span]:
        """``span`` and its parents up to its trace's root, once all are exported."""

        async def probe() -> list[Span] | None:
            by_id = {s.span_id: s for s in self.spans()}
            chain = [span]
            while chain[-1].parent_id:
                parent = by_id.get(chain[-1].parent_id)
                if parent is None:
                    return None  # not exported yet
                chain.append(parent)
            return chain

        return await eventually(probe, what=f"the spans above {span.name}")


def _receiver(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            collector.receive(ExportTraceServiceRequest.FromString(body))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per export would drown the test's output

    return Receiver


@dataclass(frozen=True)
class TracedFlow:
    """A patient's plan activated and its session 1 booked on the traced stack."""

    stack: Stack
    plan_id: str
    invitation: Sms
    appointment_id: str
    confirmation: Sms

    def topic(self, name: str) -> str:
        return self.stack.topic(name)


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector().running() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    workdir: Path, bootstrap_servers: str, database_server: str, run_id: str, collector: Collector
) -> Iterator[Stack]:
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans reach the collector soon after
        # Whatever the shell says: each service is named after itself, nothing is sampled out.
        "OTEL_SERVICE_NAME": "",
        "OTEL_TRACES_SAMPLER": "",
    }
    label = f"traces_{run_id}"
    with isolated_stack(workdir, bootstrap_servers, database_server, label, env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
async def flow(traced_stack: Stack, workdir: Path) -> TracedFlow:
    stack = traced_stack
    clinic = seed(stack, workdir / "traces-seeded.json")
    async with staff_client(stack) as staff:
        response = await staff.post(f"{stack.urls['plans']}/v1/patients", json={
            "full_name": "Chloé Bernard", "phone": "+33655501234", "time_zone": "Europe/Paris",
            "language": "fr", "sms_consent": True, "needle_sensitive": False,
        })  # fmt: skip
        assert response.status_code == 201, response.text
        patient_id = response.json()["id"]
        # notify knows the patient before the invitation comes: else it plans the message
        # again when the patient arrives, in the trace of that event.
        await _applied(stack, "notify", await _patient_registered(stack, patient_id))
        start = paris_today(stack) + timedelta(days=1)
        response = await staff.post(f"{stack.urls['plans']}/v1/plans", json={
            "patient_id": patient_id, "protocol_id": clinic["protocol_ids"]["cellulite"],
            "areas": ["thighs"], "start_date": start.isoformat(),
        })  # fmt: skip
        assert response.status_code == 201, response.text
        plan_id = response.json()["id"]
        response = await staff.post(f"{stack.urls['plans']}/v1/plans/{plan_id}/activate")
        assert response.status_code == 200, response.text
        invitation = await sent_sms(stack, staff, patient_id=patient_id, kind="invitation")

        async def first_request() -> dict[str, Any] | None:
            found = await staff.get(
                f"{stack.urls['booking']}/v1/booking-requests", params={"patient_id": patient_id}
            )
            return next((r for r in found.json() if r["session_number"] == 1), None)

        request = await eventually(first_request, what="the booking request of session 1")
        response = await staff.post(f"{stack.urls['booking']}/v1/appointments", json={
            "booking_request_id": request["id"], "practitioner_id": clinic["practitioner_ids"][0],
            "room_id": clinic["room_ids"][0],
            "starts_at": datetime.combine(start, time(10, 0), PARIS).isoformat(),
        })  # fmt: skip
        assert response.status_code == 201, response.text
        appointment = response.json()
        confirmation = await sent_sms(
            stack, staff, patient_id=patient_id, kind="confirmation",
            appointment_id=appointment["id"], version=appointment["version"],
        )  # fmt: skip
    return TracedFlow(stack, plan_id, invitation, appointment["id"], confirmation)


async def _patient_registered(stack: Stack, patient_id: str) -> Record:
    def registered(record: Record) -> bool:
        headers = headers_of(record)
        return headers.get("ce_type") == PatientRegistered.type and (
            headers.get("ce_subject") == patient_id
        )

    [record] = await find_records(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"], stack.topic("plans.events"), registered,
        what=f"the registration of {patient_id}",
    )  # fmt: skip
    return record


async def _applied(stack: Stack, service: str, record: Record) -> None:
    await consumed_past(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"], service + stack.env["KAFKA_GROUP_SUFFIX"],
        TopicPartition(record.topic, record.partition), record.offset,
    )  # fmt: skip


async def send_span_of(collector: Collector, sms: Sms) -> Span:
    """notify's span for sending ``sms`` through Twilio."""
    message_id = sms.log["id"]
    return await collector.span(
        lambda s: s.name == "sms send" and s.attributes.get("messaging.message.id") == message_id,
        what=f"the send span of message {message_id}",
    )


async def twilio_request_under(collector: Collector, send: Span) -> Span:
    """The HTTP request to Twilio (the sandbox) made within ``send``."""
    return await collector.span(
        lambda s: s.parent_id == send.span_id and s.name == "POST",
        what="the Twilio request under the send span",
    )


def _statement(span: Span) -> str:
    text = span.attributes.get("db.statement") or span.attributes.get("db.query.text") or ""
    return str(text)


async def test_activating_a_plan_is_one_trace_from_the_request_to_the_invitation_sms(
    flow: TracedFlow, collector: Collector
) -> None:
    send = await send_span_of(collector, flow.invitation)
    chain = await collector.ancestry(send)

    assert [(s.service, s.name) for s in chain] == [
        ("notify", "sms send"),
        ("notify", f"{flow.topic('booking.events')} process"),
        ("booking", f"{flow.topic('booking.events')} publish"),
        ("booking", f"{flow.topic('plans.events')} process"),
        ("plans", f"{flow.topic('plans.events')} publish"),
        ("plans", "POST /v1/plans/{plan_id}/activate"),
    ]
    assert len({s.trace_id for s in chain}) == 1
    send, notified, invited, scheduled, published, request = chain
    assert request.attributes["url.path"] == f"/v1/plans/{flow.plan_id}/activate"
    assert request.kind == OtlpSpan.SPAN_KIND_SERVER
    assert published.attributes["messaging.system"] == "kafka"
    assert published.attributes["cloudevents.event_type"] == CycleScheduled.type
    assert scheduled.attributes["cloudevents.event_type"] == CycleScheduled.type
    assert scheduled.attributes["messaging.consumer.group.name"] == "booking"
    assert invited.attributes["cloudevents.event_type"] == BookingInvitationIssued.type
    assert notified.attributes["cloudevents.event_type"] == BookingInvitationIssued.type
    assert send.attributes["notify.message.kind"] == "invitation"

    # The booking requests were written in booking's handling of the cycle, in the trace.
    writes = await collector.span(
        lambda s: s.parent_id == scheduled.span_id and "INTO booking_request" in _statement(s),
        what="booking's insert of the booking requests",
    )
    assert writes.service == "booking"
    twilio = await twilio_request_under(collector, send)
    assert twilio.kind == OtlpSpan.SPAN_KIND_CLIENT
    assert str(twilio.attributes.get("url.full", twilio.attributes.get("http.url"))).endswith(
        "/Messages.json"
    )


async def test_booking_a_session_is_one_trace_from_the_request_to_the_confirmation_sms(
    flow: TracedFlow, collector: Collector
) -> None:
    send = await send_span_of(collector, flow.confirmation)
    chain = await collector.ancestry(send)

    assert [(s.service, s.name) for s in chain] == [
        ("notify", "sms send"),
        ("notify", f"{flow.topic('booking.events')} process"),
        ("booking", f"{flow.topic('booking.events')} publish"),
        ("booking", "POST /v1/appointments"),
    ]
    assert len({s.trace_id for s in chain}) == 1
    send, booked, published, request = chain
    assert request.attributes["http.response.status_code"] == 201
    assert booked.attributes["cloudevents.event_type"] == AppointmentBooked.type
    assert published.attributes["messaging.message.id"] == booked.attributes["messaging.message.id"]
    assert send.attributes["notify.message.kind"] == "confirmation"
    await twilio_request_under(collector, send)


async def test_every_event_on_the_topics_carries_its_traceparent(
    flow: TracedFlow, collector: Collector
) -> None:
    await outboxes_drained(flow.stack)
    servers = flow.stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    records = {name: await read_topic(servers, flow.topic(name)) for name in TOPICS}

    for name, found in records.items():
        assert found, f"nothing on {name}"
        missing = [headers_of(r)["ce_type"] for r in found if "ce_traceparent" not in headers_of(r)]
        assert not missing, f"events on {name} without ce_traceparent: {missing}"
        malformed = [
            headers_of(r)["ce_traceparent"]
            for r in found
            if not TRACEPARENT.match(headers_of(r)["ce_traceparent"])
        ]
        assert not malformed, f"not W3C traceparents on {name}: {malformed}"

    # The header is the relay's publish span: the consumer's process span is its child.
    [cycle] = [
        r for r in records["plans.events"]
        if headers_of(r)["ce_type"] == CycleScheduled.type
        and json.loads(r.value or b"{}")["plan_id"] == flow.plan_id
    ]  # fmt: skip
    match = TRACEPARENT.match(headers_of(cycle)["ce_traceparent"])
    assert match is not None
    trace_id, span_id = match.groups()
    publish = await collector.span(lambda s: s.span_id == span_id, what="the publish span")
    assert (publish.service, publish.name, publish.trace_id) == (
        "plans", f"{flow.topic('plans.events')} publish", trace_id,
    )  # fmt: skip
    processed = await collector.span(
        lambda s: s.parent_id == span_id and s.service == "booking",
        what="booking's processing of the cycle",
    )
    assert processed.name == f"{flow.topic('plans.events')} process"
