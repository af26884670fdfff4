"""Protocols: templates per indication, versioned. A plan keeps the version it started on,
so a protocol is never edited in place: a change is a new version of its key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from plans.adapters.db import Protocol
from plans.api.schemas import ProtocolChanges, ProtocolFields, ProtocolIn, default_min_gap
from plans.use_cases.common import Found, Page, paginate
from shared.problems import Conflict, NotFound, Problem


async def find_protocol(session: AsyncSession, *, protocol_id: uuid.UUID) -> Protocol:
    """A protocol version, retired or not; 404 if unknown."""
    protocol = await session.get(Protocol, protocol_id)
    if protocol is None:
        raise NotFound(f"no protocol {protocol_id}")
    return protocol


async def get_protocol(session: AsyncSession, *, protocol_id: uuid.UUID) -> Protocol:
    """A protocol version in use; 404 if unknown, 410 once retired (DELETE): the list
    shows retired versions with ``include_retired=true``, and plans on it keep it."""
    protocol = await find_protocol(session, protocol_id=protocol_id)
    if protocol.retired_at is not None:
        raise Problem(
            410,
            "Gone",
            f"protocol {protocol.key} version {protocol.version} was retired at "
            f"{protocol.retired_at.isoformat()}; GET /v1/protocols?include_retired=true "
            "lists it",
            retired_at=protocol.retired_at.isoformat(),
        )
    return protocol


@dataclass(frozen=True)
class ProtocolFilter:
    key: str | None = None
    indication: str | None = None
    #: Protocols that may treat this area.
    area: str | None = None
    #: Only the newest version of each key.
    latest_only: bool = False
    include_retired: bool = False


async def list_protocols(
    session: AsyncSession, *, where: ProtocolFilter, page: Page
) -> Found[Protocol]:
    """Protocols by name then version."""
    query = sa.select(Protocol)
    if where.key:
        query = query.where(Protocol.key == where.key)
    if where.indication:
        query = query.where(Protocol.indication == where.indication)
    if where.area:
        query = query.where(Protocol.areas.contains([where.area]))
    if not where.include_retired:
        query = query.where(Protocol.retired_at.is_(None))
    if where.latest_only:
        newer = aliased(Protocol)
        query = query.where(
            ~sa.exists().where(newer.key == Protocol.key, newer.version > Protocol.version)
        )
    return await paginate(session, query.order_by(Protocol.name, Protocol.version), page)


async def create_protocol(
    session: AsyncSession, *, protocol: ProtocolIn, by: str, now: datetime
) -> Protocol:
    """Version 1 of a new protocol key; 409 if the key exists (make a new version instead)."""
    if await session.scalar(sa.select(Protocol.id).where(Protocol.key == protocol.key).limit(1)):
        raise Conflict(
            f"protocol {protocol.key!r} exists; POST /v1/protocols/{{id}}/versions to change it"
        )
    return await _insert(session, protocol, key=protocol.key, version=1, by=by, now=now)


async def new_protocol_version(
    session: AsyncSession,
    *,
    protocol_id: uuid.UUID,
    changes: ProtocolChanges,
    by: str,
    now: datetime,
) -> Protocol:
    """The next version of a protocol's key: its base with ``changes`` applied.

    Plans already made keep the version they started on; new plans should use this one.
    """
    base = await find_protocol(session, protocol_id=protocol_id)
    fields = {name: getattr(base, name) for name in ProtocolFields.model_fields}
    if base.min_gap_days == default_min_gap(base.interval_days, base.tolerance_days):
        # The base's gap was its default: the new version's follows its own numbers.
        fields["min_gap_days"] = None
    fields |= changes.model_dump(exclude_unset=True, exclude_none=True)
    try:
        merged = ProtocolFields.model_validate(fields)
    except ValueError as error:
        raise Problem(
            422, "Invalid request", f"the new version would not be valid: {error}"
        ) from None
    latest = await session.scalar(
        sa.select(sa.func.max(Protocol.version)).where(Protocol.key == base.key)
    )
    return await _insert(session, merged, key=base.key, version=(latest or 0) + 1, by=by, now=now)


async def retire_protocol(session: AsyncSession, *, protocol_id: uuid.UUID, now: datetime) -> None:
    """No new plan may start on this version; plans already on it go on."""
    protocol = await find_protocol(session, protocol_id=protocol_id)
    if protocol.retired_at is None:
        protocol.retired_at = now


async def _insert(
    session: AsyncSession,
    fields: ProtocolFields,
    *,
    key: str,
    version: int,
    by: str,
    now: datetime,
) -> Protocol:
    record = Protocol(
        id=uuid.uuid4(),
        key=key,
        version=version,
        **fields.model_dump(include=set(ProtocolFields.model_fields)),
        created_at=now,
        created_by=by,
    )
    session.add(record)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Two staff versioning the same key at once: one wins, the other retries.
        raise Conflict(f"protocol {key!r} version {version} was just created; try again") from None
    return record
