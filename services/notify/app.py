"""The notify service: its spec, its FastAPI app (``python -m notify serve``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from notify.api import messages, policy, twilio_webhooks
from notify.db import outbox, processed_event
from notify.dispatcher import Dispatcher, Retrying
from notify.handlers import handlers
from notify.rate_limit import SegmentRate
from notify.reconciler import Reconciler
from notify.settings import NotifySettings
from notify.sms import TwilioGateway
from notify.use_cases.policy_replanning import PolicyReplanner
from notify.use_cases.scheduling import Clinic
from shared.clock import Clock
from shared.events import TOPICS
from shared.service import Runtime, Service, ServiceSpec, Worker


@contextlib.asynccontextmanager
async def twilio(runtime: Runtime[NotifySettings]) -> AsyncIterator[None]:
    settings = runtime.settings
    gateway = TwilioGateway(settings)
    runtime.extras["sms"] = gateway
    try:
        yield
    finally:
        await gateway.close()


def _gateway(runtime: Runtime[NotifySettings]) -> tuple[NotifySettings, TwilioGateway]:
    settings = runtime.settings
    gateway = runtime.extras["sms"]
    assert isinstance(gateway, TwilioGateway)
    return settings, gateway


def dispatcher(runtime: Runtime[NotifySettings]) -> Worker:
    settings, gateway = _gateway(runtime)
    return Dispatcher(
        sessions=runtime.sessions,
        gateway=gateway,
        clock=runtime.clock,
        status_callback=settings.public_url.rstrip("/") + twilio_webhooks.STATUS_CALLBACK_PATH,
        batch_size=settings.dispatch_batch_size,
        interval=settings.dispatch_interval_seconds,
        lease=timedelta(seconds=settings.dispatch_lease_seconds),
        rate=SegmentRate(settings.sms_segments_per_second, settings.sms_burst_segments),
        retrying=Retrying(
            base=timedelta(seconds=settings.retry_base_seconds),
            cap=timedelta(seconds=settings.retry_max_seconds),
            max_attempts=settings.max_send_attempts,
        ),
    ).run


def reconciler(runtime: Runtime[NotifySettings]) -> Worker:
    settings, gateway = _gateway(runtime)
    return Reconciler(
        sessions=runtime.sessions,
        gateway=gateway,
        clock=runtime.clock,
        grace=timedelta(seconds=settings.reconcile_grace_seconds),
        interval=settings.reconcile_interval_seconds,
    ).run


def policy_replanner(runtime: Runtime[NotifySettings]) -> Worker:
    settings = runtime.settings
    clinic = Clinic(name=settings.clinic_name, time_zone=settings.clinic_time_zone)
    return PolicyReplanner(
        sessions=runtime.sessions,
        clinic=clinic,
        clock=runtime.clock,
        batch_size=settings.replan_batch_size,
        interval=settings.replan_interval_seconds,
    ).run


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
            extra_workers={
                "dispatch": dispatcher,
                "reconcile": reconciler,
                "replan": policy_replanner,
            },
            resources=twilio,
            clock=clock,
        )
    )


def create_app() -> FastAPI:
    return service().app(owns_process=True)
