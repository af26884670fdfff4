"""Errors as RFC 9457 problem details (``application/problem+json``).

Raise :class:`Problem` anywhere in a request; :func:`install_problem_handlers`
turns it, FastAPI's validation errors and HTTP errors into problem documents.
An unexpected exception still answers a problem document (500), without the
internals; it is logged for the team. Text PostgreSQL cannot store (a NUL character)
is the caller's error: 422, found where it fails rather than by checking every string
of every request.

:func:`document_problems` makes the OpenAPI document say so: every operation lists the
problem+json answers it can give (401/403 from its auth, 404 for what it names, 409 for
a write, 422 for its input, 429, 503, 405 with ``Allow``), worked out from the route's
parameters and the dependencies it uses (:func:`may_answer` declares what one answers).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Any, TypeVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from sqlalchemy.exc import StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db import is_connection_loss, is_transaction_clash

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An error the caller can act on: status, short title, and a clear detail."""

    # Positional-only, so an extension may be named like them (e.g. status="booked").
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        /,
        *,
        type: str = "about:blank",
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.headers = dict(headers or {})
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            document["instance"] = instance
        # Extensions add members; they never replace the standard ones.
        return {**self.extensions, **document}


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(problem.body(request.url.path)),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=problem.headers,
    )


def _describe(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts)


#: What the database's refusals and absences raise: SQLAlchemy's wrapper, asyncpg's own
#: (a NUL character the caller sent; a server restarting), or a refused connection.
#: FileNotFoundError: a Unix socket the database removed on stopping (see is_connection_loss);
#: any other goes on to on_unexpected.
_STORAGE_FAILURES = (
    StatementError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ConnectionError,
    FileNotFoundError,
)


def unstorable_text(error: BaseException) -> str | None:
    """Why the request's text could not be stored, if that is what ``error`` is: a NUL
    character, which PostgreSQL's text and jsonb cannot hold (valid JSON and Unicode,
    so nothing refuses it earlier). Follows the causes SQLAlchemy wraps it in."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(
            current, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError
        ):
            return "text must not contain NUL (\\u0000) characters"
        current = current.__cause__ or getattr(current, "orig", None)
    return None


#: The database cannot be reached (restarting, failing over): nothing was stored.
DATABASE_DOWN = Problem(
    503,
    "Service unavailable",
    "the database cannot be reached right now; nothing was saved, try again in a few seconds",
    headers={"Retry-After": "5"},
)
#: A transaction PostgreSQL aborted for clashing with another (a deadlock): nothing was
#: saved, and the same request again may well pass.
CLASH = Problem(
    409,
    "Conflict",
    "another change to the same records was made at the same moment; nothing was saved, try again",
    conflict="concurrent",
)


#: A service's domain exceptions and how its API answers each: status and title. The
#: exception's ``detail`` (else its message) is the detail, its ``facts`` the extensions.
Refusals = Mapping[type[Exception], tuple[int, str]]


def install_problem_handlers(app: FastAPI, refusals: Refusals | None = None) -> None:
    """Make every error of ``app`` a problem+json response (``refusals``: the service's
    domain exceptions, mapped in this one place)."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {k: v for k, v in error.items() if k in ("loc", "msg", "type")}
            for error in exc.errors()
        ]
        problem = Problem(422, "Invalid request", _describe(errors), errors=errors)
        return problem_response(problem, request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route of the path only.
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not a method of this path; it takes {', '.join(allowed)}"
        problem = Problem(exc.status_code, title, detail, headers=headers)
        return problem_response(problem, request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem(500, "Internal error", "the server failed; the team has been alerted")
        return problem_response(problem, request)

    async def on_storage_failure(request: Request, exc: Exception) -> JSONResponse:
        if is_connection_loss(exc):
            log.warning("database unreachable on %s %s", request.method, request.url.path)
            return problem_response(DATABASE_DOWN, request)
        if is_transaction_clash(exc):
            # Not the error's text: SQLAlchemy's carries the statement's values.
            log.warning("transaction clash on %s %s", request.method, request.url.path)
            return problem_response(CLASH, request)
        why = unstorable_text(exc)
        if why is None:
            return await on_unexpected(request, exc)
        return problem_response(Unprocessable(why), request)

    def on_refusal(status: int, title: str) -> Callable[[Request, Exception], Awaitable[Any]]:
        async def answer(request: Request, exc: Exception) -> JSONResponse:
            detail, facts = getattr(exc, "detail", str(exc)), getattr(exc, "facts", {})
            return problem_response(Problem(status, title, detail, **facts), request)

        return answer

    app.add_exception_handler(Problem, on_problem)
    for refusal, (status, title) in (refusals or {}).items():
        app.add_exception_handler(refusal, on_refusal(status, title))
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for failure in _STORAGE_FAILURES:
        app.add_exception_handler(failure, on_storage_failure)
    app.add_exception_handler(Exception, on_unexpected)


class NotFound(Problem):
    """404: what the caller named does not exist (or is not theirs to see)."""

    def __init__(self, detail: str, /, **extensions: Any) -> None:
        super().__init__(404, "Not found", detail, **extensions)


class Conflict(Problem):
    """409: the request is valid but clashes with the current state."""

    def __init__(self, detail: str, /, **extensions: Any) -> None:
        super().__init__(409, "Conflict", detail, **extensions)


class Unprocessable(Problem):
    """422: the request is well-formed but asks for something the rules forbid."""

    def __init__(self, detail: str, /, **extensions: Any) -> None:
        super().__init__(422, "Unprocessable request", detail, **extensions)


def allowed_methods(request: Request) -> list[str]:
    """The methods the request's path takes, over every route of the app that matches it."""
    path = request.scope["path"]
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        pattern = getattr(route, "path_regex", None)
        if route.methods and pattern is not None and pattern.match(path):
            methods |= route.methods
    return sorted(methods)


# -- What the OpenAPI document says about errors -----------------------------------------

#: The schema of every error body (one component, named Problem).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document. Extensions may add members (`errors` on "
    "a 422 from validation, the facts of a refusal such as `conflict`).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "about:blank: the status says it all"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "what went wrong, for a person to read"},
        "instance": {"type": "string", "description": "the path that answered"},
        "errors": {
            "type": "array",
            "description": "on a 422 from validation: each input refused, and why",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

_SECONDS = {"type": "integer", "minimum": 0}

#: Every error status the APIs answer: when, and the headers that come with it.
ANSWERS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("The body could not be read: it is not UTF-8.", {}),
    401: (
        "No valid credentials: a staff token (`Authorization: Bearer`), or the link's token.",
        {"WWW-Authenticate": {"schema": {"type": "string"}, "required": False}},
    ),
    403: ("The caller may not do this: their role, or not their own.", {}),
    404: ("What the request names does not exist, or is not the caller's to see.", {}),
    405: (
        "The path does not take this method: `Allow` lists those it takes.",
        {"Allow": {"schema": {"type": "string"}, "required": True}},
    ),
    409: ("The request clashes with how things stand now; `detail` says how.", {}),
    410: ("It was there, and is gone for good.", {}),
    422: (
        "The request is invalid or breaks a rule; `detail` says why (and `errors` which "
        "input, when it fails validation).",
        {},
    ),
    429: (
        "Too many requests: try again after `Retry-After` seconds.",
        {"Retry-After": {"schema": _SECONDS, "required": True}},
    ),
    503: (
        "The database cannot be reached; nothing was saved: retry after `Retry-After` s.",
        {"Retry-After": {"schema": _SECONDS, "required": True}},
    ),
}

#: What a dependency or an endpoint may answer besides its success, and the security
#: scheme it checks (see :func:`may_answer`).
_DECLARED: dict[Callable[..., Any], tuple[frozenset[int], str | None]] = {}

#: The security schemes an operation may name.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "staffToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A staff JWT (roles admin, staff, practitioner): `make token`, or "
        "booking's POST /v1/auth/login.",
    },
}

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_C = TypeVar("_C", bound=Callable[..., Any])


def may_answer(*statuses: int, security: str | None = None) -> Callable[[_C], _C]:
    """Declare that a FastAPI dependency or endpoint may answer ``statuses`` (problem+json),
    and checks the security scheme ``security``: every operation that uses it documents
    them. What the route's shape implies (422 for input, 404 for a path that names
    something, 409 for a write, 405) needs no declaring."""
    unknown = set(statuses) - set(ANSWERS)
    if unknown or (security is not None and security not in SECURITY_SCHEMES):
        raise ValueError(f"undocumented status or scheme: {sorted(unknown)} {security}")

    def declare(call: _C) -> _C:
        known, scheme = _DECLARED.get(call, (frozenset(), None))
        _DECLARED[call] = (known | set(statuses), security or scheme)
        return call

    return declare


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for what its own code answers (the rest is worked out)."""
    return {status: {"description": ANSWERS[status][0]} for status in statuses}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _names_an_id(schema: Any, components: Mapping[str, Any], seen: set[str]) -> bool:
    """Whether a request body's schema has an id (a uuid) in it, followed through $refs."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                return False
            seen.add(name)
            return _names_an_id(components.get(name), components, seen)
        if schema.get("format") == "uuid":
            return True
        return any(_names_an_id(value, components, seen) for value in schema.values())
    if isinstance(schema, list):
        return any(_names_an_id(item, components, seen) for item in schema)
    return False


def operation_answers(route: RouteContext, method: str, operation: Mapping[str, Any],
                      components: Mapping[str, Any]) -> tuple[set[int], str | None]:  # fmt: skip
    """The error statuses one operation can answer, and the security scheme it checks."""
    statuses: set[int] = {405}
    security = None
    params: set[str] = set()
    for dependant in _dependants(route.dependant):
        if dependant.call is not None:
            declared, scheme = _DECLARED.get(dependant.call, (frozenset(), None))
            statuses |= declared
            security = security or scheme
        for kind in ("path", "query", "header", "cookie", "body"):
            if getattr(dependant, f"{kind}_params"):
                params.add(kind)
    if "path" in params:
        statuses |= {404, 422}
    if params:
        statuses.add(422)
    if "body" in params:
        statuses |= {400, 422}
        body = operation.get("requestBody", {}).get("content", {})
        if _names_an_id(body, components, set()):
            statuses.add(404)
    if method in _UNSAFE:
        statuses.add(409)
    for status in route.responses:
        if str(status).isdigit() and int(status) >= 400:
            statuses.add(int(status))
    return statuses, security


def _problem_response(status: int, given: Mapping[str, Any] | None) -> dict[str, Any]:
    description, headers = ANSWERS.get(status, (HTTPStatus(status).phrase, {}))
    answer: dict[str, Any] = {
        "description": (given or {}).get("description") or description,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        answer["headers"] = {
            name: {"description": name, **header} for name, header in headers.items()
        }
    return answer


#: Text as PostgreSQL stores it: no NUL character (else 422, see :func:`unstorable_text`).
STORABLE_TEXT = "^[^\\x00]*$"
#: A time of day on a local clock (shared.clock.LocalTime): JSON Schema's "time" format
#: would ask for a UTC offset, which such a time refuses.
LOCAL_TIME = {
    "type": "string",
    "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?$",
    "description": "a local time of day, without a UTC offset, e.g. 08:30",
}


def _inputs_as_taken(schema: Any) -> None:
    """Say of every string what the service takes (in place): free text without NUL, and
    a time of day without an offset (pydantic documents both too loosely)."""
    if isinstance(schema, list):
        for item in schema:
            _inputs_as_taken(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string":
        if schema.get("format") == "time":
            del schema["format"]
            schema.update(LOCAL_TIME)
        elif not {"pattern", "format", "enum", "const"} & schema.keys():
            schema["pattern"] = STORABLE_TEXT
    for key, value in schema.items():
        if key not in ("examples", "example", "default", "enum", "const"):
            _inputs_as_taken(value)


def document_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document list, on every operation, each problem+json answer
    it can give (see :func:`operation_answers`) in place of FastAPI's 422 alone, and say
    of its strings what the service takes (:func:`_inputs_as_taken`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        _inputs_as_taken(schemas)
        _inputs_as_taken(document.get("paths", {}))
        schemas["Problem"] = PROBLEM_SCHEMA
        used_schemes: set[str] = set()
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = document["paths"][route.path_format][method.lower()]
                statuses, security = operation_answers(route, method, operation, schemas)
                responses = operation.setdefault("responses", {})
                for status in statuses:
                    responses[str(status)] = _problem_response(status, responses.get(str(status)))
                operation["responses"] = dict(sorted(responses.items()))
                if security:
                    operation["security"] = [{security: []}]
                    used_schemes.add(security)
        if used_schemes:
            components["securitySchemes"] = {
                name: SECURITY_SCHEMES[name] for name in sorted(used_schemes)
            }
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
