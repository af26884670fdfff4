"""Async SQLAlchemy 2 engine, sessions and pooled transactions, and the naming convention
of every schema."""

from __future__ import annotations

import contextlib
import math
import os
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy import MetaData, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util.concurrency import await_, greenlet_spawn

# Stable constraint names, so Alembic migrations name what they create and drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with the project's naming convention: one per service schema."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(
    url: str, *, pool_size: int = 10, pre_ping: bool = True, ping_after_idle: float = 0.5
) -> AsyncEngine:
    """An asyncpg engine; with ``pre_ping`` (default) a restarted database is survived at
    the cost of one round trip per checkout of a connection idle for ``ping_after_idle``
    seconds or more (:func:`_pinging_after`)."""
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
    if pre_ping:
        pooled = engine.sync_engine
        sa.event.listen(pooled, "connect", _note_idle_since)
        sa.event.listen(pooled, "checkin", _note_idle_since)
        sa.event.listen(pooled, "checkout", _pinging_after(ping_after_idle))
    return engine


#: What a pooled connection the server ended raises when pinged (its protocol may even
#: be caught mid-state by the termination: InternalClientError).
_PING_FAILED = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)
_IDLE_SINCE = "idle_since"


def _note_idle_since(dbapi_connection: Any, record: Any) -> None:
    """A connection just made or given back to the pool: it answered a moment ago."""
    record.info[_IDLE_SINCE] = time.monotonic()


def _pinging_after(idle: float) -> Callable[[Any, Any, object], None]:
    def _ping_on_checkout(dbapi_connection: Any, record: Any, proxy: object) -> None:
        """Before a pooled connection idle for ``idle`` seconds is used, ask the server for
        nothing (``;``) in one round trip; a connection the server dropped makes the pool
        throw it away and check out another (DisconnectionError).

        One used within ``idle`` is trusted, as HikariCP trusts one used in the last
        500 ms: under load no request pays the round trip, and a database that went away
        within that moment costs the one request that finds it (a 503 to retry; the pool
        then drops the connection); one the driver already saw closed is dropped
        whatever its age. SQLAlchemy's own pre-ping wraps the query in a transaction for
        pgbouncer's transaction mode: three round trips, on every checkout, for a pooler
        we do not use."""
        driver = dbapi_connection.driver_connection
        if driver.is_closed():  # its end already seen (the server's, or a terminate)
            raise DisconnectionError("the pooled connection is closed")
        if time.monotonic() - record.info.get(_IDLE_SINCE, -math.inf) < idle:
            return
        try:
            await_(driver.fetchrow(";"))
        except _PING_FAILED as error:
            raise DisconnectionError(str(error)) from error

    return _ping_on_checkout


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """One AsyncSession per task; objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


class Transaction:
    """One transaction on one pooled connection (:func:`transaction` begins and ends it):
    plain statements run on its asyncpg connection (:meth:`connection`), and an
    AsyncSession is made only when a path needs the ORM (:attr:`session`). A path of
    plain statements skips the session's own frame (its begin, pool checkout, commit and
    close, each through a greenlet), which cost a reservation more CPU than any other
    part of it (docs/performance.md)."""

    def __init__(self, engine: AsyncEngine, pooled: PoolProxiedConnection) -> None:
        self._engine = engine
        self._pooled = pooled
        self._driver = cast(asyncpg.Connection, pooled.driver_connection)
        self._session: AsyncSession | None = None
        #: What the transaction's statements note for later in it (as ``session.info``).
        self.info: dict[str, Any] = {}

    @property
    def session(self) -> AsyncSession:
        """An AsyncSession in this transaction, made at first use: SQLAlchemy's connection
        over the same pooled one. Its asyncpg adapter, finding no transaction of its own,
        begins one with the session's first statement, which asyncpg nests in this one
        (a savepoint); the session's commit releases it."""
        if self._session is None:
            joined = Connection(self._engine.sync_engine, connection=self._pooled)
            self._session = AsyncSession(
                bind=AsyncConnection(self._engine, joined), expire_on_commit=False
            )
            self._session.info.update(self.info)
            self.info = self._session.info
        return self._session

    @property
    def made_session(self) -> AsyncSession | None:
        """The session, if a path has made it already."""
        return self._session

    async def connection(self) -> asyncpg.Connection:
        """The transaction's asyncpg connection, anything pending in the session flushed
        first (a plain statement never overtakes a change made before it)."""
        session = self._session
        if session is not None and (session.new or session.dirty or session.deleted):
            await session.flush()
        return self._driver


@contextlib.asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Transaction]:
    """A :class:`Transaction` on a connection from ``engine``'s pool (checked out as any
    other, the ping window included), committed when the block ends and rolled back if
    it raises. A connection is never given back to the pool inside a transaction. The
    driver's error on a connection it found closed (the server went away between the
    checkout and a statement) is a ConnectionError, as SQLAlchemy's would be a lost
    connection: a 503 to retry, a consumer's retry."""
    pooled = await greenlet_spawn(engine.sync_engine.raw_connection)
    begun = Transaction(engine, pooled)
    outer = begun._driver.transaction()
    try:
        try:
            await outer.start()
            yield begun
            if begun._session is not None:
                await begun._session.commit()
            await outer.commit()
        except BaseException as error:
            # A lost connection can roll back nothing; the pool will not take it back.
            if begun._session is not None:
                with contextlib.suppress(Exception):
                    await begun._session.rollback()
            with contextlib.suppress(Exception):
                await outer.rollback()
            if isinstance(error, asyncpg.InterfaceError) and begun._driver.is_closed():
                raise ConnectionError(f"database connection lost: {error}") from error
            raise
    finally:
        if not begun._driver.is_closed() and begun._driver.is_in_transaction():
            pooled.invalidate()
        await greenlet_spawn(pooled.close)


#: What a store's statements run in: a session's transaction, or a pooled one.
Db = AsyncSession | Transaction


def orm(db: Db) -> AsyncSession:
    """The ORM session of ``db`` (a pooled transaction makes one at first use)."""
    return db if isinstance(db, AsyncSession) else db.session


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database_if_missing(url: str) -> bool:
    """Create the database named in ``url`` on its server; True if it was created."""
    target = make_url(url)
    name = target.database
    if not name:
        raise ValueError("the database URL names no database")
    admin = _asyncpg_dsn(target.set(database="postgres").render_as_string(hide_password=False))
    connection = await asyncpg.connect(admin)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await connection.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:  # another process won the race
            return False
        return True
    finally:
        await connection.close()


async def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (tests clean up after themselves)."""
    target = make_url(url)
    admin = _asyncpg_dsn(target.set(database="postgres").render_as_string(hide_password=False))
    connection = await asyncpg.connect(admin)
    try:
        quoted = '"' + str(target.database).replace('"', '""') + '"'
        await connection.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        await connection.close()


async def upsert(
    session: AsyncSession,
    model: type[object],
    *,
    key: Mapping[str, object],
    values: Mapping[str, object],
    insert_only: Mapping[str, object] | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> None:
    """Insert a row, or update ``values`` of the row with this ``key`` (if ``where`` holds).

    ``insert_only`` columns are written when the row is new and never updated.
    Projections of another service's data are kept this way.
    """
    await session.execute(
        insert(model)
        .values(**key, **values, **(insert_only or {}))
        .on_conflict_do_update(index_elements=list(key), set_=dict(values), where=where)
    )


def is_connection_loss(error: BaseException) -> bool:
    """The database went away or cannot be reached (refused, reset, shutting down or
    starting up): nobody's input is at fault, so retry later. Follows the causes
    SQLAlchemy wraps the driver's errors in."""
    for current in _causes(error):
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        # Only a refused or reset connection: other OSErrors (a file, a timeout) are not.
        if isinstance(current, (ConnectionError, *_SERVER_GONE)):
            return True
        # A server on a Unix socket removes it when it stops: connecting then fails with
        # ENOENT, raised inside the driver (any other missing file is a bug, not this).
        if isinstance(current, FileNotFoundError) and _raised_in_the_driver(current):
            return True
    return False


#: What PostgreSQL aborts a transaction with when it clashed with another at the same
#: moment (deadlock_detected, serialization_failure).
_CLASHES = frozenset({"40P01", "40001"})


def is_transaction_clash(error: BaseException) -> bool:
    """PostgreSQL aborted the transaction for clashing with another one at the same
    moment (two writers taking locks in opposite orders): nobody's input is at fault, and
    the same request again may well pass."""
    return any(getattr(cause, "sqlstate", None) in _CLASHES for cause in _causes(error))


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the causes SQLAlchemy and its asyncpg adapter wrap the driver's in."""
    current: BaseException | None = error
    while current is not None:
        yield current
        current = current.__cause__ or getattr(current, "orig", None)


def _raised_in_the_driver(error: BaseException) -> bool:
    return any(
        f"{os.sep}asyncpg{os.sep}" in frame.f_code.co_filename
        for frame, _ in traceback.walk_tb(error.__traceback__)
    )


#: The driver's word for a server that is restarting or went away mid-statement.
_SERVER_GONE = (
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
)
