"""Protocols: the seeded defaults and the clinic's own, versioned (staff JWT; admins change)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from plans.api.deps import PageDep, RuntimeDep, SessionDep, paged
from plans.api.schemas import Area, ProtocolChanges, ProtocolIn, ProtocolOut
from plans.use_cases import protocols
from plans.use_cases.protocols import ProtocolFilter
from shared.api import AdminDep, StaffDep
from shared.problems import problems

router = APIRouter(prefix="/v1/protocols", tags=["protocols"])


@router.get("")
async def list_protocols(
    session: SessionDep,
    _: StaffDep,
    page: PageDep,
    response: Response,
    key: Annotated[str | None, Query(max_length=63)] = None,
    indication: Annotated[str | None, Query(max_length=63)] = None,
    area: Area | None = None,
    latest_only: bool = False,
    include_retired: bool = False,
) -> list[ProtocolOut]:
    """Protocols by name then version; ``X-Total-Count`` says how many match in all."""
    where = ProtocolFilter(
        key=key,
        indication=indication,
        area=area,
        latest_only=latest_only,
        include_retired=include_retired,
    )
    found = await protocols.list_protocols(session, where=where, page=page)
    paged(response, found.total)
    return [ProtocolOut.model_validate(p) for p in found.items]


@router.get("/{protocol_id}", responses=problems(410))
async def get_protocol(protocol_id: uuid.UUID, session: SessionDep, _: StaffDep) -> ProtocolOut:
    protocol = await protocols.get_protocol(session, protocol_id=protocol_id)
    return ProtocolOut.model_validate(protocol)


@router.post("", status_code=201)
async def create_protocol(body: ProtocolIn, runtime: RuntimeDep, user: AdminDep) -> ProtocolOut:
    """Version 1 of a new protocol."""
    async with runtime.sessions.begin() as session:
        protocol = await protocols.create_protocol(
            session, protocol=body, by=user.subject, now=runtime.clock.now()
        )
    return ProtocolOut.model_validate(protocol)


@router.post("/{protocol_id}/versions", status_code=201)
async def new_protocol_version(
    protocol_id: uuid.UUID, body: ProtocolChanges, runtime: RuntimeDep, user: AdminDep
) -> ProtocolOut:
    """The next version of this protocol's key, with the changes sent."""
    async with runtime.sessions.begin() as session:
        protocol = await protocols.new_protocol_version(
            session, protocol_id=protocol_id, changes=body, by=user.subject, now=runtime.clock.now()
        )
    return ProtocolOut.model_validate(protocol)


@router.delete("/{protocol_id}", status_code=204)
async def retire_protocol(protocol_id: uuid.UUID, runtime: RuntimeDep, _: AdminDep) -> None:
    """Retire a version: no new plan starts on it; plans on it go on."""
    async with runtime.sessions.begin() as session:
        await protocols.retire_protocol(session, protocol_id=protocol_id, now=runtime.clock.now())
