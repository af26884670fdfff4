"""Default protocols for the six indications of the source article.

Revision ID: 0002
Revises: 0001
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Cycles of 4 to 10 sessions at a regular interval, sized by area and indication.
DEFAULTS = [
    # key, name, indication, areas, sessions, interval, tolerance, minutes, cream
    ("cellulite", "Cellulite reduction", "cellulite",
     ["abdomen", "thighs", "buttocks", "knees", "arms"], 10, 7, 2, 30, True),
    ("weight-loss", "Localised weight loss", "weight_loss",
     ["abdomen", "thighs", "buttocks", "arms", "back"], 10, 7, 2, 30, True),
    ("hair-regrowth", "Hair regrowth", "hair_regrowth", ["scalp"], 8, 14, 3, 30, True),
    ("face-neck", "Face and neck rejuvenation", "face_neck_rejuvenation",
     ["face", "neck"], 6, 14, 3, 45, True),
    ("body-sculpting", "Body sculpting", "body_sculpting",
     ["abdomen", "arms", "back", "legs", "hands"], 8, 10, 3, 45, True),
    ("medical", "Medical mesotherapy (spasm, fibromyalgia, osteoarthritis)", "medical",
     ["back", "neck", "knees", "ankles", "legs", "arms", "hands"], 5, 7, 2, 20, False),
]  # fmt: skip

protocol = sa.table(
    "protocol",
    sa.column("id", sa.Uuid),
    sa.column("key", sa.Text),
    sa.column("version", sa.Integer),
    sa.column("name", sa.Text),
    sa.column("indication", sa.Text),
    sa.column("areas", ARRAY(sa.Text)),
    sa.column("session_count", sa.Integer),
    sa.column("interval_days", sa.Integer),
    sa.column("tolerance_days", sa.Integer),
    sa.column("session_minutes", sa.Integer),
    sa.column("numbing_cream_advised", sa.Boolean),
)


def default_protocol_id(key: str) -> uuid.UUID:
    """Stable ids, so every clinic's seeded protocols are the same rows."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"mesocycle:protocol:{key}:1")


def upgrade() -> None:
    op.bulk_insert(
        protocol,
        [
            {
                "id": default_protocol_id(key),
                "key": key,
                "version": 1,
                "name": name,
                "indication": indication,
                "areas": areas,
                "session_count": sessions,
                "interval_days": interval,
                "tolerance_days": tolerance,
                "session_minutes": minutes,
                "numbing_cream_advised": cream,
            }
            for (key, name, indication, areas, sessions, interval, tolerance, minutes, cream) in (
                DEFAULTS
            )
        ],
    )


def downgrade() -> None:
    op.execute(protocol.delete().where(protocol.c.version == 1))
