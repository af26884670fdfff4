"""The trace context in the envelope, and what reaches a span: without an exporter, in
this process (the end-to-end proof with exporting services is tests/e2e/test_traces.py)."""

from __future__ import annotations

import uuid

import pytest

from shared import tracing
from shared.contracts.plans import PatientRegistered
from shared.events import kafka_headers, new_event, read_record
from shared.outbox import outbox_row
from tests.clock import TEST_NOW

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def registration() -> PatientRegistered:
    return PatientRegistered(
        patient_id=uuid.uuid4(), full_name="Léa Martin", phone="+33612345678",
        time_zone="Europe/Paris", language="fr", sms_consent=True, needle_sensitive=False,
    )  # fmt: skip


def headers(**trace: str | None) -> list[tuple[str, bytes]]:
    return kafka_headers(
        id=uuid.uuid4(), source="/plans", type=PatientRegistered.type, time=TEST_NOW,
        subject=None, **trace,
    )  # fmt: skip


def test_the_trace_context_travels_as_the_cloudevents_tracing_extension() -> None:
    sent = headers(traceparent=TRACEPARENT, tracestate="clinic=paris")

    assert ("ce_traceparent", TRACEPARENT.encode()) in sent
    assert ("ce_tracestate", b"clinic=paris") in sent
    raw = read_record(b"key", b"{}", sent)
    assert (raw.traceparent, raw.tracestate) == (TRACEPARENT, "clinic=paris")


def test_an_event_outside_any_trace_carries_no_trace_context() -> None:
    sent = headers(traceparent=None, tracestate=None)

    assert not [name for name, _ in sent if "trace" in name]
    assert read_record(b"key", b"{}", sent).traceparent is None
    row = outbox_row(new_event(registration(), source="/plans", key="k", now=TEST_NOW))
    assert (row["traceparent"], row["tracestate"]) == (None, None)


def test_an_event_written_while_handling_another_stays_in_its_trace() -> None:
    raw = read_record(b"key", b"{}", headers(traceparent=TRACEPARENT))

    with tracing.processing(raw, topic="plans.events", partition=0, offset=7, group="notify"):
        row = outbox_row(new_event(registration(), source="/notify", key="k", now=TEST_NOW))
    # Traced or not, this process continues the event's trace.
    assert row["traceparent"] is not None
    assert row["traceparent"].split("-")[1] == TRACE_ID


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("/book/eyJhbGciOi.J9x-y", "/book/{token}"),
        ("/v1/feed.ics?token=s3cret&days=30", "/v1/feed.ics?token=REDACTED&days=30"),
        ("token=s3cret", "token=REDACTED"),
        ("https://twilio/Messages.json?To=%2B33612345678&Page=0", "https://twilio/Messages.json?To=REDACTED&Page=0"),
        ("/v1/plans/7/activate", "/v1/plans/7/activate"),
    ],
)  # fmt: skip
def test_urls_in_spans_carry_no_token_nor_phone_number(url: str, redacted: str) -> None:
    assert tracing.redact(url) == redacted


def test_a_malformed_traceparent_starts_afresh_rather_than_failing() -> None:
    raw = read_record(b"key", b"{}", headers(traceparent="00-not-a-trace-01"))

    with tracing.processing(raw, topic="plans.events", partition=0, offset=8, group="notify"):
        row = outbox_row(new_event(registration(), source="/notify", key="k", now=TEST_NOW))
    assert "not-a-trace" not in str(row["traceparent"])
