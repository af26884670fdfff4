"""FHIR R4 read API machinery that plans and booking share (docs/fhir.md).

A service declares the resource types it serves (``shared.fhir_search.Served``: read, search
and its search parameters) and builds its router with :func:`fhir_router`. Its routes then answer
``application/fhir+json``: a resource, a ``searchset`` Bundle paged with ``_count`` and
``_offset`` (:func:`searchset`), the ``CapabilityStatement`` made from the same declarations
(:func:`capability_statement`), or, for any error, an ``OperationOutcome`` with its 4xx
(5xx) status, never problem+json: :class:`FhirRoute` turns every exception into one.

So the FHIR routes stay out of the OpenAPI documents (``include_in_schema=False``): those
say every error is problem+json (``shared.problems``); FHIR clients learn the API from
``/fhir/R4/metadata``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from shared.db import is_connection_loss
from shared.problems import Problem, unstorable_text

if TYPE_CHECKING:
    from shared.fhir_search import Search, Served

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/fhir+json"
FHIR_VERSION = "4.0.1"
#: Where each service serves FHIR.
BASE_PATH = "/fhir/R4"
#: Paging: rows per page (``_count``, at most MAX_COUNT) and rows skipped (``_offset``).
DEFAULT_COUNT = 50
MAX_COUNT = 200
MAX_OFFSET = 1_000_000


class FhirSettings(BaseSettings):
    """Where each service's FHIR base is as clients reach it (env prefix ``FHIR_``): the
    references from one service's resources to the other's (an Appointment's Patient, a
    CarePlan's Appointments) are absolute URLs on these."""

    model_config = SettingsConfigDict(env_prefix="FHIR_", env_file=".env", extra="ignore")

    plans_base_url: str = "http://127.0.0.1:8001/fhir/R4"
    booking_base_url: str = "http://127.0.0.1:8002/fhir/R4"

    @field_validator("plans_base_url", "booking_base_url")
    @classmethod
    def _without_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")


@lru_cache(maxsize=1)
def fhir_settings() -> FhirSettings:
    """The FHIR settings, read once per process."""
    return FhirSettings()


class FhirResponse(JSONResponse):
    media_type = MEDIA_TYPE


# -- Errors: OperationOutcome ----------------------------------------------------------

#: The OperationOutcome issue type of each status (FHIR's IssueType codes).
ISSUE_CODES = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    406: "not-supported", 409: "conflict", 410: "deleted", 422: "processing", 429: "throttled",
    503: "transient",
}  # fmt: skip


class Refused(Problem):
    """A FHIR request refused with ``status``: ``code`` is the OperationOutcome's issue type
    (by default that of the status)."""

    def __init__(
        self,
        status: int,
        detail: str,
        /,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, HTTPStatus(status).phrase, detail, headers=headers)
        self.code = code or ISSUE_CODES.get(status, "processing")


def invalid(detail: str) -> Refused:
    """400: a search parameter or value this server cannot take."""
    return Refused(400, detail, code="invalid")


def operation_outcome(status: int, detail: str, code: str | None = None) -> dict[str, Any]:
    """An OperationOutcome of one error issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error" if status < 500 else "fatal",
                "code": code or ISSUE_CODES.get(status, "exception"),
                "details": {"text": HTTPStatus(status).phrase},
                "diagnostics": detail,
            }
        ],
    }


def outcome_response(
    status: int, detail: str, code: str | None = None, headers: Mapping[str, str] | None = None
) -> FhirResponse:
    return FhirResponse(
        operation_outcome(status, detail, code), status_code=status, headers=dict(headers or {})
    )


def outcome_of(error: Exception, request: Request) -> FhirResponse:
    """The OperationOutcome answering ``error``, as shared.problems answers it in problem+json."""
    if isinstance(error, Problem):
        code = error.code if isinstance(error, Refused) else None
        return outcome_response(error.status, error.detail, code, error.headers)
    if isinstance(error, RequestValidationError):
        where = "; ".join(str(e.get("msg")) for e in error.errors()[:5])
        return outcome_response(400, where or "invalid request", "invalid")
    if isinstance(error, StarletteHTTPException):
        detail = error.detail if isinstance(error.detail, str) else "refused"
        return outcome_response(error.status_code, detail, headers=error.headers)
    if is_connection_loss(error):
        log.warning("database unreachable on %s %s", request.method, request.url.path)
        detail = "the database cannot be reached right now; try again in a few seconds"
        return outcome_response(503, detail, headers={"Retry-After": "5"})
    why = unstorable_text(error)
    if why is not None:
        return outcome_response(400, why, "invalid")
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return outcome_response(500, "the server failed; the team has been alerted", "exception")


class FhirRoute(APIRoute):
    """A FHIR route: whatever goes wrong answers an OperationOutcome, a method the path
    does not take included (405 with ``Allow``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                return outcome_of(error, request)

        return answer

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = ", ".join(sorted(self.methods))
            detail = f"{scope['method']} is not a method of this path; it takes {allowed}"
            await outcome_response(405, detail, headers={"Allow": allowed})(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def fhir_router() -> APIRouter:
    """A router for a service's FHIR base: OperationOutcome errors, fhir+json answers, not
    in the OpenAPI document (see the module's docstring). Add :func:`add_fallback` last."""
    return APIRouter(
        prefix=BASE_PATH,
        tags=["fhir"],
        route_class=FhirRoute,
        include_in_schema=False,
        default_response_class=FhirResponse,
    )


def add_fallback(router: APIRouter, served: Sequence[Served]) -> None:
    """404 OperationOutcome for any other path under the FHIR base (types not served)."""
    names = ", ".join(s.type for s in served)

    @router.get("/{rest:path}")
    async def not_served(rest: str) -> Response:
        kind = rest.split("/")[0]
        if kind in {s.type for s in served}:
            raise Refused(404, f"nothing at {kind}/{rest[len(kind) + 1 :]}: read {kind}/<id>")
        raise Refused(404, f"this server serves no {kind!r}; it serves {names}")


# -- Answers ----------------------------------------------------------------------------


def base_url(request: Request) -> str:
    """This service's FHIR base as the caller reached it."""
    return str(request.base_url).rstrip("/") + BASE_PATH


def instant(moment: datetime, zone: ZoneInfo | None = None) -> str:
    """An instant with its UTC offset (at ``zone``'s wall clock when given)."""
    if moment.tzinfo is None:
        raise ValueError("an instant needs its UTC offset")
    return (moment.astimezone(zone) if zone else moment).isoformat()


def searchset(
    request: Request, served: Served, search: Search, total: int, resources: list[dict[str, Any]]
) -> FhirResponse:
    """A searchset Bundle of one page: ``total`` matches in all, links self, next and
    previous (``_offset`` and ``_count``), each entry's fullUrl and search mode."""
    base = base_url(request)

    def page(offset: int) -> str:
        query = request.url.include_query_params(_count=search.count, _offset=offset)
        return f"{base}/{served.type}?{query.query}"

    links = [{"relation": "self", "url": page(search.offset)}]
    if search.count and search.offset + search.count < total:
        links.append({"relation": "next", "url": page(search.offset + search.count)})
    if search.offset > 0:
        previous = max(0, min(search.offset, total) - max(search.count, 1))
        links.append({"relation": "previous", "url": page(previous)})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
    }
    if resources:  # (FHIR's JSON has no empty arrays)
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
    return FhirResponse(bundle)


def capability_statement(
    request: Request, *, name: str, title: str, served: Sequence[Served], now: datetime
) -> FhirResponse:
    """The CapabilityStatement of a FHIR base serving ``served``, exactly as declared."""
    base = base_url(request)
    resources = []
    for kind in served:
        interactions = [{"code": "read"}] if kind.read else []
        resource: dict[str, Any] = {"type": kind.type}
        if kind.documentation:
            resource["documentation"] = kind.documentation
        if kind.params is not None:
            interactions.append({"code": "search-type"})
            resource["searchParam"] = [
                {"name": p.name, "type": p.type, "documentation": p.documentation}
                for p in kind.params
            ]
        resource["interaction"] = interactions
        resources.append(resource)
    return FhirResponse(
        {
            "resourceType": "CapabilityStatement",
            "name": name,
            "title": title,
            "status": "active",
            "date": now.date().isoformat(),
            "kind": "instance",
            "software": {"name": "mesocycle", "version": "1.0.0"},
            "implementation": {"description": title, "url": base},
            "fhirVersion": FHIR_VERSION,
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": "Read-only. Searches page with _count (default "
                    f"{DEFAULT_COUNT}, at most {MAX_COUNT}) and _offset; an unknown search "
                    "parameter is a 400.",
                    "security": {
                        "description": "A staff JWT: Authorization: Bearer <token> (roles "
                        "admin, staff, practitioner); the metadata needs none."
                    },
                    "resource": resources,
                }
            ],
        }
    )
