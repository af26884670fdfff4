"""outbox.traceparent, outbox.tracestate: the trace each event belongs to, sent with it as
the CloudEvents distributed-tracing extension; message.traceparent: the trace of the
event that planned the message, which its send continues (shared.tracing)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.messaging_tables import add_outbox_trace_context, drop_outbox_trace_context

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_trace_context()
    op.add_column("message", sa.Column("traceparent", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("message", "traceparent")
    drop_outbox_trace_context()
