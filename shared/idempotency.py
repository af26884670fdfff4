"""``Idempotency-Key`` for writes a client may retry: the same key answers the same result.

A route takes :data:`IdempotentDep` and runs its create through it; the answer is stored
under the key in the SAME transaction as the write. A concurrent request with the same
key blocks on the key's row until the first one commits, then replays its answer; if the
first rolls back, the second does the work itself. The same key with another body (its
JSON, whatever the key order or spacing) is a 422: it is a client bug.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic_core
import sqlalchemy as sa
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Db, orm
from shared.problems import Unprocessable

#: The optional header, as a FastAPI parameter: ``key: IdempotencyKeyHeader = None``.
IdempotencyKeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


def add_idempotency_table(metadata: sa.MetaData) -> sa.Table:
    """Declare the ``idempotency_key`` table on a service's MetaData."""
    return sa.Table(
        "idempotency_key",
        metadata,
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", JSONB),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


@dataclass(frozen=True)
class Replay:
    """The answer first given to this key."""

    status_code: int
    body: Any


def fingerprint(body: Any) -> str:
    """A stable hash of a request body (JSON-able), to tell a retry from a misuse."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    session: AsyncSession, table: sa.Table, *, scope: str, key: str, request_hash: str
) -> Replay | None:
    """Take ``key`` for this request (its body's :func:`fingerprint`), or return the
    answer already given to it.

    Call inside the transaction that does the write. Raises 422 when the key was
    used with another body.
    """
    taken = await session.scalar(
        insert(table)
        .values(scope=scope, key=key, request_hash=request_hash)
        .on_conflict_do_nothing()
        .returning(table.c.key)
    )
    if taken is not None:
        return None
    row = (
        await session.execute(
            sa.select(table.c.request_hash, table.c.status_code, table.c.response).where(
                table.c.scope == scope, table.c.key == key
            )
        )
    ).one()
    if row.request_hash != request_hash:
        raise Unprocessable(
            f"Idempotency-Key {key!r} was already used with a different request body"
        )
    return Replay(status_code=row.status_code, body=row.response)


async def remember(
    session: AsyncSession, table: sa.Table, *, scope: str, key: str, status_code: int, body: Any
) -> None:
    """Store the answer to ``key`` (same transaction as the write) for later replays."""
    await session.execute(
        sa.update(table)
        .where(table.c.scope == scope, table.c.key == key)
        .values(status_code=status_code, response=body)
    )


@dataclass(frozen=True)
class Idempotent:
    """A create a client may retry: its ``Idempotency-Key`` (None: it sent none) and the
    fingerprint of its body."""

    key: str | None
    request_hash: str

    async def create(
        self,
        db: Db,
        table: sa.Table,
        *,
        scope: str,
        create: Callable[[], Awaitable[BaseModel | Sequence[BaseModel]]],
    ) -> Response:
        """A 201 answer: run ``create`` (in the caller's transaction) unless the key
        already answered, and store the answer in the same transaction, so a rolled-back
        create leaves no trace; the same key answers the same."""
        key = self.key
        if key is not None:
            replay = await claim(
                orm(db), table, scope=scope, key=key, request_hash=self.request_hash
            )
            if replay is not None:
                return JSONResponse(replay.body, status_code=replay.status_code)
        created = await create()
        answer = pydantic_core.to_json(created)  # each model by its own serializer
        if key is not None:
            body = json.loads(answer)
            await remember(orm(db), table, scope=scope, key=key, status_code=201, body=body)
        return Response(answer, status_code=201, media_type="application/json")


async def idempotent(request: Request, key: IdempotencyKeyHeader = None) -> Idempotent:
    """The request's key and the fingerprint of its JSON body (FastAPI has read and
    validated it already: this reads it from its cache)."""
    if key is None:
        return Idempotent(None, "")
    raw = await request.body()
    return Idempotent(key, fingerprint(json.loads(raw) if raw else None))


#: A create route's parameter: ``once: IdempotentDep``, then ``await once.create(...)``.
IdempotentDep = Annotated[Idempotent, Depends(idempotent)]
