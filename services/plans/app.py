"""The plans service: its spec, its FastAPI app (``python -m plans serve``)."""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from plans.adapters.db import idempotency_keys, outbox, processed_event
from plans.adapters.handlers import handlers
from plans.api import fhir, patients, plans, protocols
from plans.settings import PlansSettings
from plans.use_cases import patients as patient_records
from plans.workers import WORKERS
from shared.clock import Clock
from shared.events import TOPICS
from shared.retention import Retained
from shared.service import AdminCommand, Service, ServiceSpec


def service(
    settings: PlansSettings | None = None, clock: Clock | None = None
) -> Service[PlansSettings]:
    return Service(
        ServiceSpec(
            settings=settings or PlansSettings(),
            title="mesocycle plans",
            description="Patients, treatment protocols, plans and their cycles of sessions.",
            outbox=outbox,
            processed=processed_event,
            migrations=Path(__file__).parent / "migrations",
            routers=[patients.router, protocols.router, plans.router, fhir.router],
            consumes=[TOPICS["booking"], TOPICS["notify"]],
            handlers=handlers,
            extra_workers=WORKERS,
            clock=clock,
            commands={"patients": PATIENTS},
            retained=[Retained(idempotency_keys, "created_at")],
        )
    )


def _patients_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["resync"])
    parser.add_argument("--patient-id", type=uuid.UUID, help="only this patient")


async def _resync(session: AsyncSession, args: argparse.Namespace, now: datetime) -> str:
    count = await patient_records.resync_patients(session, patient_id=args.patient_id, now=now)
    return f"plans: {count} patients announced again to booking and notify"


#: ``python -m plans patients resync [--patient-id ID]``: when booking or notify lost
#: patients' events (docs: README, Operations).
PATIENTS = AdminCommand(
    help="resync: announce every patient's current state again", arguments=_patients_arguments,
    run=_resync,
)  # fmt: skip


def create_app() -> FastAPI:
    return service().app(owns_process=True)
