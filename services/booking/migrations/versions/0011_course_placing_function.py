"""lock_course_for_placing: a placing's course lock and what it is judged against, in one
round trip (adapters/store.placing).

A placing locks its course (every booking request of the plan, in session order, FOR NO
KEY UPDATE) and then reads the course with each session's active appointment, and the
resources' hours and time off around the choice. The read must see what the lock waited
for (another placing of the same course, just committed): one statement has one
snapshot, so the two cannot be one statement, but a VOLATILE function takes a fresh
snapshot for each statement it runs. The locked requests come back whole (the table's
row type, so a column added later comes with them) for the ORM's identity map. Each
request's active appointment (one at most: the partial unique index) is looked up by
the request, in that index (LATERAL ... LIMIT 1, which the planner cannot flatten into a
join): as a join, the planner hashed every active appointment of the clinic whenever its
statistics lagged behind a table that grows fast, a cost that grew with the table.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION lock_course_for_placing(
            request_id uuid, resource_ids uuid[], around_from timestamptz,
            around_until timestamptz
        ) RETURNS TABLE (
            request booking_request, starts_at timestamptz, time_zone text,
            resource_id uuid, weekday smallint, opens time, closes time, ends_at timestamptz
        ) LANGUAGE plpgsql VOLATILE AS $$
        #variable_conflict use_column
        DECLARE
            course uuid := (SELECT plan_id FROM booking_request WHERE id = request_id);
        BEGIN
            PERFORM FROM booking_request WHERE plan_id = course
                ORDER BY session_number FOR NO KEY UPDATE;
            RETURN QUERY
                SELECT r, a.starts_at, a.time_zone, NULL::uuid, NULL::smallint, NULL::time,
                       NULL::time, NULL::timestamptz
                FROM booking_request r
                LEFT JOIN LATERAL (
                    SELECT a.starts_at, l.time_zone FROM appointment a
                    JOIN location l ON l.id = a.location_id
                    WHERE a.booking_request_id = r.id
                        AND a.status IN ('held', 'booked', 'confirmed', 'checked_in')
                    LIMIT 1
                ) a ON true
                WHERE r.plan_id = course
                UNION ALL
                SELECT NULL, NULL, NULL, resource_id, weekday, opens, closes, NULL
                FROM working_hours WHERE resource_id = ANY(resource_ids)
                UNION ALL
                SELECT NULL, starts_at, NULL, resource_id, NULL, NULL, NULL, ends_at
                FROM time_off WHERE resource_id = ANY(resource_ids)
                    AND starts_at < around_until AND ends_at > around_from;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION lock_course_for_placing(uuid, uuid[], timestamptz, timestamptz)")
