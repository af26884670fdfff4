-- mesocycle: run once by the postgres image on an empty data directory
-- (mounted into /docker-entrypoint-initdb.d/ by docker-compose.yml), as the
-- POSTGRES_USER superuser, through psql (so \connect works).
--
-- Each service has its own database; `python -m <service> migrate` would also
-- create its database if missing, and then runs its Alembic migrations.

CREATE DATABASE mesocycle_plans;
CREATE DATABASE mesocycle_booking;
CREATE DATABASE mesocycle_notify;

-- booking: exclusion constraints over (practitioner/room, time range) need
-- btree_gist, so that no two appointments overlap on one resource.
\connect mesocycle_booking
CREATE EXTENSION IF NOT EXISTS btree_gist;
