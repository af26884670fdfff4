"""outbox.traceparent, outbox.tracestate: the trace each event belongs to, sent with it as
the CloudEvents distributed-tracing extension (shared.tracing)

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from shared.messaging_tables import add_outbox_trace_context, drop_outbox_trace_context

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_trace_context()


def downgrade() -> None:
    drop_outbox_trace_context()
