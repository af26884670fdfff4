"""Alembic for each service's own schema: one history per service, run programmatically.

A service's ``migrations/env.py`` is two lines: it calls :func:`run_env` with the
service's MetaData. ``python -m <service> migrate`` calls :func:`upgrade`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import create_database_if_missing


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    """An Alembic config for one service's history and database."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


async def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Create the service's database if missing and migrate it to ``revision``."""
    await create_database_if_missing(database_url)
    config = alembic_config(migrations_dir, database_url)
    # Alembic's command API is synchronous and runs env.py, which drives asyncio itself.
    await asyncio.to_thread(command.upgrade, config, revision)


def run_env(target_metadata: sa.MetaData) -> None:
    """The body of a service's ``env.py``: run migrations online over asyncpg."""
    url = context.config.attributes["database_url"]

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())
