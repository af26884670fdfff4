"""Errors as RFC 9457 problem details (``application/problem+json``).

Raise :class:`Problem` anywhere in a request; :func:`install_problem_handlers`
turns it, FastAPI's validation errors and HTTP errors into problem documents.
An unexpected exception still answers a problem document (500), without the
internals; it is logged for the team. Text PostgreSQL cannot store (a NUL character)
is the caller's error: 422, found where it fails rather than by checking every string
of every request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db import is_connection_loss

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
        problem = Problem(exc.status_code, title, detail, headers=exc.headers)
        return problem_response(problem, request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem(500, "Internal error", "the server failed; the team has been alerted")
        return problem_response(problem, request)

    async def on_storage_failure(request: Request, exc: Exception) -> JSONResponse:
        if is_connection_loss(exc):
            log.warning("database unreachable on %s %s", request.method, request.url.path)
            return problem_response(DATABASE_DOWN, request)
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
