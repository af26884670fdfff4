"""The notify service: its spec, its FastAPI app (``python -m notify serve``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from notify.adapters.db import outbox, processed_event
from notify.adapters.handlers import handlers
from notify.api import messages, policy, twilio_webhooks
from notify.settings import NotifySettings
from notify.workers import WORKERS
from shared.clock import Clock
from shared.events import TOPICS
from shared.service import Service, ServiceSpec


def service(
    settings: NotifySettings | None = None, clock: Clock | None = None
) -> Service[NotifySettings]:
    return Service(
        ServiceSpec(
            settings=settings or NotifySettings(),
            title="mesocycle notify",
            description="SMS reminders and numbing-cream instructions through Twilio.",
            outbox=outbox,
            processed=processed_event,
            migrations=Path(__file__).parent / "migrations",
            routers=[messages.router, policy.router, twilio_webhooks.router],
            consumes=[TOPICS["plans"], TOPICS["booking"]],
            handlers=handlers,
            extra_workers=WORKERS,
            clock=clock,
        )
    )


def create_app() -> FastAPI:
    return service().app(owns_process=True)
