"""The booking service: its spec, its FastAPI app (``python -m booking serve``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from booking.adapters.db import outbox, processed_event
from booking.adapters.handlers import handlers
from booking.api import (
    appointments,
    calendar_feed,
    fhir,
    offers,
    reports,
    requests,
    resources,
    schedule,
    self_booking,
)
from booking.domain.errors import StateConflict, Unknown, UnsuitableChoice
from booking.settings import BookingSettings
from booking.web import router as web_router
from booking.workers import WORKERS
from shared.clock import Clock
from shared.events import TOPICS
from shared.service import Service, ServiceSpec


def service(
    settings: BookingSettings | None = None, clock: Clock | None = None
) -> Service[BookingSettings]:
    return Service(
        ServiceSpec(
            settings=settings or BookingSettings(),
            title="mesocycle booking",
            description="Resources, availability, booking requests and appointments.",
            outbox=outbox,
            processed=processed_event,
            migrations=Path(__file__).parent / "migrations",
            # Matched in this order: the booking path's first (docs/performance.md).
            routers=[
                appointments.router,
                resources.router,
                requests.router,
                schedule.router,
                calendar_feed.router,
                offers.router,
                reports.router,
                self_booking.router,
                fhir.router,
                web_router,
            ],
            consumes=[TOPICS["plans"], TOPICS["notify"]],
            handlers=handlers,
            extra_workers=WORKERS,
            clock=clock,
            # Every refusal of booking's rules, as its API answers it.
            refusals={
                Unknown: (404, "Not found"),
                StateConflict: (409, "Conflict"),
                UnsuitableChoice: (422, "Unprocessable request"),
            },
        )
    )


def create_app() -> FastAPI:
    return service().app(owns_process=True)
