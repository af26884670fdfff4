"""The plans service: its spec, its FastAPI app (``python -m plans serve``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from plans.api import patients, plans, protocols
from plans.db import outbox, processed_event
from plans.handlers import handlers
from plans.settings import PlansSettings
from shared.clock import Clock
from shared.events import TOPICS
from shared.service import Service, ServiceSpec


def service(settings: PlansSettings | None = None, clock: Clock | None = None) -> Service:
    return Service(
        ServiceSpec(
            settings=settings or PlansSettings(),
            title="mesocycle plans",
            description="Patients, treatment protocols, plans and their cycles of sessions.",
            outbox=outbox,
            processed=processed_event,
            migrations=Path(__file__).parent / "migrations",
            routers=[patients.router, protocols.router, plans.router],
            consumes=[TOPICS["booking"], TOPICS["notify"]],
            handlers=handlers,
            clock=clock,
        )
    )


def create_app() -> FastAPI:
    return service().app(owns_process=True)
