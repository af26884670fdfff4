"""Traces across the services: one trace from an HTTP request, through every event it
causes, to the SMS at the end (OpenTelemetry).

Off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``: OTLP over HTTP/protobuf
to ``OTEL_EXPORTER_OTLP_ENDPOINT``; ``console``: stdout); the other standard ``OTEL_*``
variables (service name, sampler, batching, endpoint, headers) are read as OpenTelemetry
defines them. Off, nothing is instrumented and a request pays for no span.

The trace context crosses Kafka as the CloudEvents distributed-tracing extension: the
``traceparent`` (and ``tracestate``) of the span that wrote an event is kept with its
outbox row (:func:`trace_context`); the relay's ``<topic> publish`` span continues it and
sends its own as ``ce_traceparent`` (:func:`publishing`); a consumer's ``<topic> process``
span continues that (:func:`processing`). notify keeps the context of the event that
planned a message on the message row, and its ``sms send`` span continues it
(:func:`sending_sms`). A service that traces nothing still passes the context on.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    import aiohttp
    from opentelemetry.sdk.trace import ReadableSpan, Span
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler

    from shared.events import RawEvent

#: The tracer of the spans written here (the libraries' instrumentation has its own).
TRACER = trace.get_tracer("mesocycle")
#: W3C Trace Context, whatever OTEL_PROPAGATORS says: the CloudEvents extension is W3C's.
W3C = TraceContextTextMapPropagator()
EXPORTERS = ("otlp", "console")

_enabled: bool | None = None  # None: setup() not run yet in this process


def setup(service: str) -> bool:
    """Turn tracing on for this process if ``OTEL_TRACES_EXPORTER`` asks for it (once;
    later calls change nothing). Returns whether spans are recorded."""
    global _enabled
    if _enabled is not None:
        return _enabled
    wanted = [
        name.strip().lower()
        for name in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
        if name.strip() and name.strip().lower() != "none"
    ]
    unknown = sorted(set(wanted) - set(EXPORTERS))
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={','.join(unknown)} is not supported: otlp, console or none"
        )
    _enabled = bool(wanted) and os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"
    if _enabled:
        _install(service, wanted)
    return _enabled


def enabled() -> bool:
    """Whether this process records spans."""
    return bool(_enabled)


def _install(service: str, exporters: Sequence[str]) -> None:
    # Imported only when on: a process that does not trace does not load the SDK.
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service}),
        # OTEL_TRACES_SAMPLER, when set, is the SDK's to read.
        sampler=None if os.environ.get("OTEL_TRACES_SAMPLER") else _sampler(),
    )
    provider.add_span_processor(_redactor())  # first: exporters see redacted attributes
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _sampler() -> Sampler:
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_ON,
        Decision,
        ParentBased,
        Sampler,
        SamplingResult,
    )

    class WorkStartsTraces(Sampler):
        """Every root span starts a trace but a lone client call: the workers' polls of the
        database (several a second) would otherwise each be a trace of one query."""

        def should_sample(
            self,
            parent_context: Context | None,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if kind is SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return ALWAYS_ON.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return "WorkStartsTraces"

    return ParentBased(root=WorkStartsTraces())


#: A self-booking link's token in a path, and query parameters that carry a secret or a
#: phone number (a calendar feed's ?token=, Twilio's ?To=): never in a span.
_TOKEN_IN_PATH = re.compile(r"(/book/)[^/?#]+")
_SECRET_PARAMETER = re.compile(r"((?:^|[?&])(?:token|to|from|phone)=)[^&#]*", re.IGNORECASE)
_URL_ATTRIBUTES = ("url.full", "url.path", "url.query", "http.url", "http.target")


def redact(url: str) -> str:
    """``url`` (or its path, or its query) without tokens and phone numbers."""
    return _SECRET_PARAMETER.sub(r"\1REDACTED", _TOKEN_IN_PATH.sub(r"\1{token}", url))


def _redactor() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class Redactor(SpanProcessor):
        """Rewrites URL attributes as spans start, before any exporter sees them."""

        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            for name in _URL_ATTRIBUTES:
                value = (span.attributes or {}).get(name)
                if isinstance(value, str) and (redacted := redact(value)) != value:
                    span.set_attribute(name, redacted)

        def on_end(self, span: ReadableSpan) -> None:
            pass

    return Redactor()


def _is_probe(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in ("/healthz", "/readyz", "/metrics")


#: FastAPI's own OpenTelemetry support, for every service: a SERVER span per request
#: (named by route), once a tracer provider is set; no metrics or logs (Prometheus and
#: our JSON logs have those), no spans for the probes.
HTTP_TELEMETRY: TelemetryConfig = {
    "tracing": True,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,  # setup() configures from the same OTEL_* variables
    "exclude": _is_probe,
}


def http_client_traces() -> list[aiohttp.TraceConfig]:
    """What an aiohttp session needs to trace its requests (none while tracing is off)."""
    if not enabled():
        return []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    # Twilio's list queries name the patient's number (?To=): no query in a span.
    return [create_trace_config(url_filter=lambda url: str(url.with_query(None)))]


def trace_context() -> dict[str, str | None]:
    """The current span's ``traceparent`` and ``tracestate`` (None outside any trace):
    what an outbox row keeps for the relay."""
    carrier: dict[str, str] = {}
    W3C.inject(carrier)
    return {"traceparent": carrier.get("traceparent"), "tracestate": carrier.get("tracestate")}


def current_traceparent() -> str | None:
    """The current span's ``traceparent`` (None outside any trace)."""
    return trace_context()["traceparent"]


def _context_of(traceparent: str | None, tracestate: str | None = None) -> Context:
    carrier = {"traceparent": traceparent or "", "tracestate": tracestate or ""}
    return W3C.extract({k: v for k, v in carrier.items() if v}, context=Context())


def _messaging(operation: str, destination: str, **more: Any) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.name": operation,
        "messaging.operation.type": "send" if operation == "publish" else operation,
        "messaging.destination.name": destination,
        **{name: value for name, value in more.items() if value is not None},
    }


@contextlib.contextmanager
def publishing(
    topic: str,
    *,
    event_id: uuid.UUID,
    event_type: str,
    traceparent: str | None,
    tracestate: str | None,
) -> Iterator[dict[str, str]]:
    """The relay's ``<topic> publish`` span for one event, a child of the span that wrote
    it; yields the trace context the record carries (``traceparent``, ``tracestate``)."""
    attributes = _messaging("publish", topic, **{"messaging.message.id": str(event_id)})
    with TRACER.start_as_current_span(
        f"{topic} publish",
        context=_context_of(traceparent, tracestate),
        kind=SpanKind.PRODUCER,
        attributes={**attributes, "cloudevents.event_type": event_type},
    ):
        carrier: dict[str, str] = {}
        W3C.inject(carrier)
        yield carrier


@contextlib.contextmanager
def processing(
    event: RawEvent, *, topic: str, partition: int, offset: int, group: str
) -> Iterator[None]:
    """A consumer's ``<topic> process`` span for one event, a child of the relay's
    publish span that sent it (its ``ce_traceparent``)."""
    attributes = _messaging(
        "process",
        topic,
        **{
            "messaging.message.id": str(event.id),
            "messaging.consumer.group.name": group,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.offset": offset,
            "cloudevents.event_type": event.type,
            "cloudevents.event_source": event.source,
        },
    )
    with TRACER.start_as_current_span(
        f"{topic} process",
        context=_context_of(event.traceparent, event.tracestate),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ):
        yield


def failed(reason: str) -> None:
    """Mark the current span failed (an event dead-lettered, say)."""
    trace.get_current_span().set_status(Status(StatusCode.ERROR, reason[:300]))


@contextlib.contextmanager
def sending_sms(traceparent: str | None, *, message_id: uuid.UUID, kind: str) -> Iterator[None]:
    """notify's ``sms send`` span for one message, a child of the span that planned it
    (the event's processing); Twilio's HTTP request is its child."""
    with TRACER.start_as_current_span(
        "sms send",
        context=_context_of(traceparent),
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "twilio",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": "sms",
            "messaging.message.id": str(message_id),
            "notify.message.kind": kind,
        },
    ):
        yield
