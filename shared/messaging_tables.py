"""The tables behind the outbox and the idempotent consumer, in every service's schema.

Each service adds them to its own MetaData with :func:`add_messaging_tables`; its
first migration creates them with :func:`create_messaging_tables` (and its downgrade
drops them with :func:`drop_messaging_tables`), the same in every service; a later one
adds the outbox's trace context (:func:`add_outbox_trace_context`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID


def add_messaging_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """Declare ``outbox`` and ``processed_event`` on a service's MetaData."""
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        # The CloudEvents distributed-tracing extension: the trace that wrote the event.
        sa.Column("traceparent", sa.Text),
        sa.Column("tracestate", sa.Text),
        # The relay's work list: only what is still to publish, in commit order.
        sa.Index("ix_outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
    )
    processed = sa.Table(
        "processed_event",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    return outbox, processed


def create_messaging_tables() -> None:
    """In a migration: create ``outbox`` and ``processed_event`` (as declared above)."""
    from alembic import op
    from sqlalchemy.dialects import postgresql

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_event",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_event")),
    )


def add_outbox_trace_context() -> None:
    """In a migration: the outbox's ``traceparent`` and ``tracestate`` (shared.tracing),
    added to what :func:`create_messaging_tables` created."""
    from alembic import op

    op.add_column("outbox", sa.Column("traceparent", sa.Text(), nullable=True))
    op.add_column("outbox", sa.Column("tracestate", sa.Text(), nullable=True))


def drop_outbox_trace_context() -> None:
    """In a migration's downgrade: undo :func:`add_outbox_trace_context`."""
    from alembic import op

    op.drop_column("outbox", "tracestate")
    op.drop_column("outbox", "traceparent")


def drop_messaging_tables() -> None:
    """In a migration's downgrade: drop what :func:`create_messaging_tables` created."""
    from alembic import op

    op.drop_table("processed_event")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox")
