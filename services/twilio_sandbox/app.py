"""The sandbox's FastAPI application: Twilio's Messages API plus the ``/_sandbox`` control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException

from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.context import Sandbox
from twilio_sandbox.control_api import control_router
from twilio_sandbox.delivery import DeliverySimulator
from twilio_sandbox.errors import TwilioApiError, not_found
from twilio_sandbox.messages_api import messages_router
from twilio_sandbox.resources import API_VERSION
from twilio_sandbox.store import SandboxStore
from twilio_sandbox.webhooks import WebhookSender


async def _twilio_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwilioApiError)
    return exc.to_response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown Twilio URLs answer with Twilio's error body; the rest keeps FastAPI's."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith(f"/{API_VERSION}/"):
        if exc.status_code == 404:
            return not_found(request.url.path).to_response()
        return TwilioApiError(exc.status_code, exc.status_code, str(exc.detail)).to_response()
    return await http_exception_handler(request, exc)


def create_app(config: SandboxConfig, *, store: SandboxStore | None = None) -> FastAPI:
    """Build a sandbox app.

    ``store`` lets the caller keep a handle on the state for direct assertions; by
    default a fresh one is seeded from ``config``. Delivery tasks and the webhook
    HTTP client are torn down with the app's lifespan.
    """
    store = store if store is not None else SandboxStore.from_config(config)
    sender = WebhookSender(config.auth_token, timeout_seconds=config.callback_timeout_seconds)
    simulator = DeliverySimulator(
        store, sender, messaging_service_sender=config.messaging_service_sender
    )
    sandbox = Sandbox(config=config, store=store, sender=sender, simulator=simulator)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await simulator.cancel_all()
            await sender.aclose()

    app = FastAPI(
        title="Twilio sandbox",
        description="A Twilio-compatible Messages API for dev and tests, plus a control API.",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    app.add_exception_handler(TwilioApiError, _twilio_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.include_router(messages_router(sandbox))
    app.include_router(control_router(sandbox))
    return app
