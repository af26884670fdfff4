"""Every error is problem+json with a clear detail; logs never show a full phone number."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError

from shared.observability import JsonFormatter, MaskingFormatter, mask_phone
from shared.problems import MEDIA_TYPE, Conflict, NotFound, install_problem_handlers

INTERNALS = "connection to 10.0.0.7 refused, password=hunter2"


class NewCycle(BaseModel):
    patient_name: str
    sessions: int = Field(ge=4, le=12)


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/v1/cycles")
    async def create_cycle(cycle: NewCycle) -> dict[str, Any]:
        return cycle.model_dump()

    @app.get("/v1/cycles/{cycle_id}")
    async def get_cycle(cycle_id: int) -> dict[str, Any]:
        if cycle_id == 409:
            raise Conflict("cycle 409 is already active", cycle_id=cycle_id)
        raise NotFound(f"no cycle {cycle_id}")

    @app.get("/v1/boom")
    async def boom() -> dict[str, Any]:
        raise RuntimeError(INTERNALS)

    @app.post("/v1/clash/{how}")
    async def clash(how: str) -> dict[str, Any]:
        deadlock = asyncpg.DeadlockDetectedError("deadlock detected")
        if how == "raw":  # a statement run on the driver's connection itself
            raise deadlock
        try:
            raise deadlock
        except asyncpg.DeadlockDetectedError as error:  # as SQLAlchemy wraps it
            raise DBAPIError("SELECT pg_advisory_xact_lock(1)", None, error) from error

    return app


async def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    # The server error middleware re-raises after answering (for the server's log):
    # read the answer the client gets instead of the re-raised exception.
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, **kwargs)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["detail"]
    return body


async def test_an_invalid_body_answers_422_problem_naming_each_bad_field() -> None:
    response = await request("POST", "/v1/cycles", json={"sessions": 2})
    body = assert_problem(response, 422)
    assert body["title"] == "Invalid request"
    assert "patient_name" in body["detail"]
    assert "sessions" in body["detail"]
    assert "greater than or equal to 4" in body["detail"]
    assert {tuple(error["loc"]) for error in body["errors"]} == {
        ("body", "patient_name"),
        ("body", "sessions"),
    }
    assert body["instance"] == "/v1/cycles"


async def test_a_body_that_is_not_json_answers_422_problem() -> None:
    response = await request(
        "POST", "/v1/cycles", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


async def test_a_bad_path_parameter_answers_422_problem_naming_it() -> None:
    response = await request("GET", "/v1/cycles/abc")
    body = assert_problem(response, 422)
    assert "cycle_id" in body["detail"]


async def test_an_unknown_route_answers_404_problem() -> None:
    response = await request("GET", "/v1/nowhere")
    body = assert_problem(response, 404)
    assert body["title"] == "Not Found"


async def test_a_wrong_method_answers_405_problem() -> None:
    response = await request("DELETE", "/v1/cycles")
    body = assert_problem(response, 405)
    assert body["title"] == "Method Not Allowed"


async def test_a_raised_problem_answers_its_status_detail_and_extensions() -> None:
    body = assert_problem(await request("GET", "/v1/cycles/7"), 404)
    assert body["detail"] == "no cycle 7"
    body = assert_problem(await request("GET", "/v1/cycles/409"), 409)
    assert body["title"] == "Conflict"
    assert body["cycle_id"] == 409


async def test_an_unexpected_error_answers_500_problem_without_the_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.problems"):
        response = await request("GET", "/v1/boom")
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "10.0.0.7" not in response.text
    assert "RuntimeError" not in response.text
    assert body["title"] == "Internal error"
    # ...but the team has it in the log.
    logged = [r for r in caplog.records if r.name == "shared.problems"]
    assert logged
    assert logged[0].exc_info is not None
    assert INTERNALS in str(logged[0].exc_info[1])


@pytest.mark.parametrize("how", ["raw", "through SQLAlchemy"])
async def test_a_transaction_postgresql_aborted_as_a_deadlock_answers_409_to_retry(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two writers took locks in opposite orders and PostgreSQL aborted one: nobody's
    input is at fault, nothing was saved, the same request again may pass. The log names
    the route, not the statement (whose values may name a treatment)."""
    with caplog.at_level(logging.WARNING, logger="shared.problems"):
        body = assert_problem(await request("POST", f"/v1/clash/{how}"), 409)
    assert body["conflict"] == "concurrent"
    assert "try again" in body["detail"]
    assert "POST /v1/clash" in caplog.text
    assert "pg_advisory_xact_lock" not in caplog.text
    assert "deadlock detected" not in caplog.text


# -- phone numbers in logs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+33612345678", "+*********78"),
        ("+14155550123", "+*********23"),
        ("+447700900123", "+**********23"),
        ("sms to +33612345678 queued", "sms to +*********78 queued"),
        ("+33 6 12 34 56 78", "+*********78"),
        ("+1 415-555-0123", "+*********23"),
        ("from +33612345678 to +14155550123", "from +*********78 to +*********23"),
        ('{"to": "+33612345678"}', '{"to": "+*********78"}'),
    ],
)
def test_mask_phone_masks_e164_numbers_keeping_the_last_two_digits(text: str, masked: str) -> None:
    assert mask_phone(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24 22:18:49",
        "2026-11-24T22:18:49+01:00",
        "2026-11-24T22:18:49.123456+00:00",
        "at 2026-11-24 22:18:49 UTC",
        "patient 7d5f1f6e-8a51-4c44-9c3f-2f1f0c2b9a11",
        "appointment 123456789012",
        "SM0123456789abcdef0123456789abcdef",
        "offset +0100",
        "took 12345 ms",
    ],
)
def test_mask_phone_leaves_timestamps_ids_and_numbers_alone(text: str) -> None:
    assert mask_phone(text) == text


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("notify"))
    logger = logging.getLogger("tests.unit.masking")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_json_logs_mask_phone_numbers_in_message_and_extra_fields(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    logger.info(
        "sending reminder to %s",
        "+33612345678",
        extra={
            "to": "+33612345678",
            "contacts": ["+14155550123", {"home": "+447700900123"}],
            "appointment_at": "2026-11-24 22:18:49",
            "attempt": 2,
        },
    )
    line = stream.getvalue()
    for digits in ("33612345678", "14155550123", "447700900123", "612345678", "4155550123"):
        assert digits not in line
    document = json.loads(line)
    assert document["message"] == "sending reminder to +*********78"
    assert document["to"] == "+*********78"
    assert document["contacts"] == ["+*********23", {"home": "+**********23"}]
    assert document["appointment_at"] == "2026-11-24 22:18:49"
    assert document["attempt"] == 2
    assert document["level"] == "info"
    assert document["service"] == "notify"
    assert document["logger"] == "tests.unit.masking"


def test_json_logs_mask_phone_numbers_in_exception_text(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    try:
        raise ValueError("Twilio refused +33612345678: not a mobile number")
    except ValueError:
        logger.exception("send failed")
    line = stream.getvalue()
    assert "33612345678" not in line
    document = json.loads(line)
    assert "ValueError: Twilio refused +*********78" in document["exception"]


def test_text_logs_mask_phone_numbers_too() -> None:
    record = logging.makeLogRecord(
        {"msg": "opt-out from %s", "args": ("+33612345678",), "levelname": "INFO"}
    )
    line = MaskingFormatter("%(levelname)s %(message)s").format(record)
    assert line == "INFO opt-out from +*********78"


def test_a_phone_number_followed_by_a_timestamp_keeps_the_timestamp() -> None:
    assert mask_phone("reminder +33612345678 2026-11-24 22:18:49") == (
        "reminder +*********78 2026-11-24 22:18:49"
    )


def test_an_extension_named_like_a_standard_member_adds_without_replacing_it() -> None:
    problem = Conflict("appointment is booked", status="booked", title="x")
    body = problem.body()
    assert (body["status"], body["title"]) == (409, "Conflict")
    assert problem.extensions == {"status": "booked", "title": "x"}
