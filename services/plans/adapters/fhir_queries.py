"""Read-only queries behind plans' FHIR API (plans.api.fhir): patients, plans and the
patients' recorded allergies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from plans.adapters.db import Patient, Plan
from plans.use_cases.common import Found, Page, paginate


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class NameMatch:
    """A name criterion: the term starts a word of the name (``exact``: is the whole name;
    ``contains``: is anywhere in it), any case."""

    term: str
    modifier: str | None = None

    def condition(self) -> sa.ColumnElement[bool]:
        term = _escaped(self.term)
        if self.modifier == "exact":
            return Patient.full_name == self.term
        if self.modifier == "contains":
            return Patient.full_name.ilike(f"%{term}%", escape="\\")
        return sa.or_(
            Patient.full_name.ilike(f"{term}%", escape="\\"),
            Patient.full_name.ilike(f"% {term}%", escape="\\"),
            Patient.full_name.ilike(f"%-{term}%", escape="\\"),
        )


@dataclass(frozen=True)
class PatientFilter:
    """Each field an AND; inside one, any value (None: no condition)."""

    ids: Sequence[uuid.UUID] | None = None
    #: An AND of ORs.
    names: Sequence[Sequence[NameMatch]] = ()
    #: E.164 numbers.
    phones: Sequence[str] | None = None


async def search_patients(
    session: AsyncSession, *, where: PatientFilter, page: Page
) -> Found[Patient]:
    """Patients on record (not the erased), by name then id."""
    query = sa.select(Patient).where(Patient.erased_at.is_(None))
    if where.ids is not None:
        query = query.where(Patient.id.in_(where.ids))
    if where.phones is not None:
        query = query.where(Patient.phone.in_(where.phones))
    for anyof in where.names:
        query = query.where(sa.or_(*(match.condition() for match in anyof)))
    return await paginate(session, query.order_by(Patient.full_name, Patient.id), page)


@dataclass(frozen=True)
class PlanFilter:
    ids: Sequence[uuid.UUID] | None = None
    patient_ids: Sequence[uuid.UUID] | None = None
    statuses: Sequence[str] | None = None


async def search_plans(session: AsyncSession, *, where: PlanFilter, page: Page) -> Found[Plan]:
    """Plans with their protocol, patient and sessions, newest first."""
    query = sa.select(Plan)
    for column, values in (
        (Plan.id, where.ids),
        (Plan.patient_id, where.patient_ids),
        (Plan.status, where.statuses),
    ):
        if values is not None:
            query = query.where(column.in_(values))
    return await paginate(session, query.order_by(Plan.created_at.desc(), Plan.id), page)


async def patients_with_allergies(
    session: AsyncSession, *, ids: Sequence[uuid.UUID] | None
) -> list[Patient]:
    """Patients on record with an allergy recorded (or those of ``ids``), by id."""
    query = sa.select(Patient).where(
        Patient.erased_at.is_(None), sa.func.cardinality(Patient.allergies) > 0
    )
    if ids is not None:
        query = query.where(Patient.id.in_(ids))
    return list(await session.scalars(query.order_by(Patient.id)))
