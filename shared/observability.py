"""Structured logs that never show a phone number, Prometheus metrics, health probes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# An international number in a message: compact E.164 (what the system stores), or
# written in groups ("+33 6 12 34 56 78", "+1 415-555-0123"). A compact number never
# runs on through a space, so a timestamp after it stays readable.
_PHONE = re.compile(r"\+\d{7,15}(?!\d)|\+\d{1,3}(?:[ \-]\d{1,4}){2,5}(?!\d)")

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask_phone(text: str) -> str:
    """Replace phone numbers in ``text`` with a mask keeping the last two digits."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return "+" + "*" * (len(digits) - 2) + digits[-2:]

    return _PHONE.sub(mask, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's extra fields; phone numbers masked."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return mask_phone(json.dumps(document, default=str))


class MaskingFormatter(logging.Formatter):
    """Plain text for a terminal; phone numbers masked all the same."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_phone(super().format(record))


def configure_logging(service: str, *, level: str = "INFO", json_lines: bool = True) -> None:
    """Log to stderr, as JSON lines (production) or readable text (dev)."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            MaskingFormatter(f"%(asctime)s {service:>7} %(levelname)-7s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The twilio SDK logs every request at INFO, phone numbers in the URL included.
    for noisy in ("aiokafka", "kafka", "httpx", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)

ReadinessCheck = Callable[[], Awaitable[None]]


class NotReady(Exception):
    """A readiness check's failure whose message is for operators: /readyz shows it."""


class RequestMetrics:
    """Counts and times every HTTP request by route template (never by raw path: ids vary).

    A plain ASGI middleware: ``@app.middleware("http")`` would cost a task and
    stream wrapping per request.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self._app = app
        self._service = service
        # Each route's series, looked up once (labels() locks and builds a key per call).
        self._latency: dict[tuple[str, str], Any] = {}
        self._requests: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            timed = self._latency.get((method, route))
            if timed is None:
                timed = self._latency[method, route] = LATENCY.labels(self._service, method, route)
            timed.observe(time.perf_counter() - started)
            counted = self._requests.get((method, route, status))
            if counted is None:
                counted = self._requests[method, route, status] = REQUESTS.labels(
                    self._service, method, route, str(status)
                )
            counted.inc()


def instrument(app: FastAPI, service: str) -> None:
    """Count and time every request of ``app``."""
    app.add_middleware(RequestMetrics, service=service)


def health_router(
    checks: Mapping[str, ReadinessCheck], *, refresh: ReadinessCheck | None = None
) -> APIRouter:
    """``/healthz`` (the process answers), ``/readyz`` (every dependency answers), ``/metrics``
    (after ``refresh``, which brings gauges read from elsewhere up to date)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except NotReady as error:
                results[name] = f"unavailable: {error}"
            except Exception as error:
                results[name] = f"unavailable: {type(error).__name__}"
        ready = all(result == "ok" for result in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        if refresh is not None:
            with contextlib.suppress(Exception):  # the other metrics still count
                await asyncio.wait_for(refresh(), timeout=2.0)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
