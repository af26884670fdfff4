"""booking's store for placing a session: what the booking path reads and writes.

One module, in the order a booking meets it:
- **the course**: every path that places a session locks the course first (all of the
  plan's booking requests, in session order, as whole-course booking does), so two
  sessions of one course placed at the same moment are judged one after the other, each
  seeing the other; then reads its windows, placements and minimum gap;
- **the resources**: practitioners, rooms and locations, kept per process (safe: these
  rows are only ever created, ids are never reused and a miss is never kept; entries
  still expire after a minute, so a change made straight in the database is seen without
  a restart); hours and time off are NOT kept: staff change them, a booking must see it;
- **the clinic over a span**: the resources' hours, time off and (for slot search) taken
  time, for ``domain.availability``;
- **the hot statements**, run on the transaction's own asyncpg connection (a session's,
  or a pooled transaction's, ``shared.db.Db``), as plain SQL asyncpg prepares once per
  connection: SQLAlchemy's
  per-statement work was the largest single cost of a reservation in the profile
  (docs/booking.md), and every round trip costs both processes a wake-up
  (docs/performance.md). Anything pending in the ORM is flushed first, so a raw
  statement never overtakes a change the use case made before it. What a path reads
  after one point in its transaction is read in one round trip where it can be: a
  placing locks its course and reads the course and the clinic's hours and time off in
  one call of a function (the read must see what the lock waited for: one statement has
  one snapshot, but each statement of a VOLATILE function takes its own); the insert
  also stages the new appointment's event and writes its request's status, and says
  whether a live offer is in its way, so that the reaction withdrawing such offers need
  not look again (``no_live_offers``); slot search reads its practitioners with the
  course, and a location's rooms with their hours, time off and taken time;
- **taking the time**: PostgreSQL is the arbiter of double booking. An insert (or a move)
  its exclusion constraints refuse becomes the 409 naming what is taken, unless what it
  collided with is a hold whose time ran out: the caller expires that hold and the
  statement is tried once more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from datetime import time as wall_clock
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import asyncpg
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached

from booking.adapters.db import (
    Appointment,
    BookingRequest,
    Patient,
    PatientLink,
    SlotOffer,
)
from booking.domain.availability import (
    EVERY_DAY,
    Clinic,
    Interval,
    LocationInfo,
    PractitionerInfo,
    Previous,
    Resource,
    RoomInfo,
    WeeklyHours,
    local_date,
)
from booking.domain.course import (
    Choice,
    Course,
    Placement,
    Placing,
    Slot,
    derive_min_gap,
)
from booking.domain.errors import StateConflict, Unknown
from booking.domain.offers import Candidate, FreedSlot
from booking.domain.request import RequestStatus
from shared.contracts.booking import ACTIVE, UPCOMING, AppointmentStatus
from shared.contracts.plans import SessionWindow
from shared.db import Db, Transaction, is_transaction_clash, orm
from shared.outbox import CHANNEL, WRITERS

T = TypeVar("T")
#: Around a choice, the span whose hours and time off judge it: longer than any session
#: with its buffers, either side.
AROUND = timedelta(days=1)
#: What the caller does with a run-out hold in the way (expire it, with its event).
Expire = Callable[[Appointment], object]


# The course.


async def lock_plan(
    session: AsyncSession, plan_id: uuid.UUID | sa.ScalarSelect[uuid.UUID]
) -> list[BookingRequest]:
    """Lock every booking request of the plan, in session order, and return them.

    ``FOR NO KEY UPDATE``: two placings in one course wait for each other, but a row that
    only names a request (an offer made to it, from another course's transaction) does
    not wait, so two courses' transactions never deadlock over each other's offers."""
    return list(await session.scalars(_lock_plan(plan_id)))


def _lock_plan(plan_id: uuid.UUID | sa.ScalarSelect[uuid.UUID]) -> sa.Select[Any]:
    return (
        sa.select(BookingRequest)
        .where(BookingRequest.plan_id == plan_id)
        .order_by(BookingRequest.session_number)
        .with_for_update(key_share=True)
    )


#: lock_course's statement, built once (building a statement costs, on the booking path).
_LOCK_COURSE = _lock_plan(
    sa.select(BookingRequest.plan_id)
    .where(BookingRequest.id == sa.bindparam("request_id"))
    .scalar_subquery()
)


async def lock_course(session: AsyncSession, request_id: uuid.UUID) -> BookingRequest | None:
    """Lock every booking request of ``request_id``'s plan, in session order; that one."""
    requests: Iterable[BookingRequest] = await session.scalars(
        _LOCK_COURSE, {"request_id": request_id}
    )
    return next((r for r in requests if r.id == request_id), None)


async def load_course(session: AsyncSession, plan_id: uuid.UUID) -> Course:
    """A plan's course: its windows, its sessions' active placements (local dates where
    they are) and its minimum gap (the protocol's as plans sent it, else derived from the
    windows). The caller locked it first (:func:`lock_course`) when it will place one."""
    driver = await connection(session)
    with loss_as_connection_error():
        return _course(await driver.fetch(COURSE, plan_id))


def _course(rows: Sequence[Any]) -> Course:
    """The course of rows of the plan's requests, each with its active appointment's
    ``starts_at`` and location ``time_zone`` (None when none); from the database, so its
    windows need no validating."""
    windows = [
        SessionWindow.model_construct(
            session_number=row["session_number"], total_sessions=row["total_sessions"],
            target_date=row["target_date"], earliest_date=row["earliest_date"],
            latest_date=row["latest_date"],
        )
        for row in rows
    ]  # fmt: skip
    placed = [
        Placement(row["session_number"], local_date(row["starts_at"], row["time_zone"]))
        for row in rows
        if row["starts_at"] is not None
    ]
    gap = next((row["min_gap_days"] for row in rows if row["min_gap_days"] is not None), None)
    return Course(windows, placed, gap if gap is not None else derive_min_gap(windows))


# The resources, kept per process.

TTL_SECONDS = 60.0

_kept: dict[tuple[str, uuid.UUID], tuple[float, object]] = {}


async def _kept_or_read(
    db: Db, kind: str, id_: uuid.UUID, query: str, make: Callable[[Any], T]
) -> T:
    """The ``kind`` of id ``id_`` as kept, else read with ``query`` and kept; 404 when
    there is none (a miss is never kept)."""
    found = _kept.get((kind, id_))
    if found is not None and found[0] >= time.monotonic():
        return cast(T, found[1])
    driver = await connection(db)
    with loss_as_connection_error():
        row = await driver.fetchrow(query, id_)
    if row is None:
        raise Unknown(f"no {kind} {id_}")
    value = make(row)
    _kept[kind, id_] = (time.monotonic() + TTL_SECONDS, value)
    return value


async def practitioner(db: Db, id_: uuid.UUID) -> PractitionerInfo:
    """The practitioner, or 404."""
    return await _kept_or_read(
        db, "practitioner", id_,
        "SELECT location_id, full_name, indications FROM practitioner WHERE id = $1",
        lambda r: PractitionerInfo(
            id_, r["location_id"], r["full_name"], frozenset(r["indications"])
        ),
    )  # fmt: skip


async def room(db: Db, id_: uuid.UUID) -> RoomInfo:
    """The room, or 404."""
    return await _kept_or_read(
        db, "room", id_, "SELECT location_id FROM room WHERE id = $1",
        lambda r: RoomInfo(id_, r["location_id"]),
    )  # fmt: skip


async def location(db: Db, id_: uuid.UUID) -> LocationInfo:
    """The location, or 404."""
    return await _kept_or_read(
        db, "location", id_, "SELECT time_zone FROM location WHERE id = $1",
        lambda r: LocationInfo(id_, r["time_zone"]),
    )  # fmt: skip


# The clinic over a span.


async def load_clinic(
    session: AsyncSession,
    *,
    location: LocationInfo,
    practitioner_ids: Sequence[uuid.UUID],
    room_ids: Sequence[uuid.UUID],
    span: Interval,
    with_taken: bool = True,
) -> Clinic:
    """Hours, time off and (``with_taken``) taken time of these resources over ``span``."""
    ids = [location.id, *practitioner_ids, *room_ids]
    rows = await _hours_and_time_off(session, ids, span.start, span.end)
    taken: dict[uuid.UUID, list[Interval]] = {}
    if with_taken:  # (not even built otherwise: building a statement costs on the hot path)
        busy = sa.select(
            Appointment.practitioner_id,
            Appointment.room_id,
            Appointment.blocked_from,
            Appointment.blocked_until,
        ).where(
            sa.or_(
                Appointment.practitioner_id.in_(practitioner_ids),
                Appointment.room_id.in_(room_ids),
            ),
            Appointment.status.in_(ACTIVE),
            Appointment.blocked_from < span.end,
            Appointment.blocked_until > span.start,
        )
        for held in await session.execute(busy):
            blocked = Interval(held.blocked_from, held.blocked_until)
            taken.setdefault(held.practitioner_id, []).append(blocked)
            taken.setdefault(held.room_id, []).append(blocked)
    return _clinic(rows, location, practitioner_ids, room_ids, taken)


def _clinic(
    rows: Sequence[Any],
    location: LocationInfo,
    practitioner_ids: Sequence[uuid.UUID],
    room_ids: Sequence[uuid.UUID],
    taken: Mapping[uuid.UUID, list[Interval]],
) -> Clinic:
    """The clinic of rows of HOURS_AND_TIME_OFF (weekday set for an opening span, else
    time off) and the resources' ``taken`` time."""
    hours: dict[uuid.UUID, list[WeeklyHours]] = {}
    away: dict[uuid.UUID, list[Interval]] = {}
    for row in rows:
        if row["weekday"] is not None:
            hours.setdefault(row["resource_id"], []).append(
                WeeklyHours(row["weekday"], row["opens"], row["closes"])
            )
        else:
            away.setdefault(row["resource_id"], []).append(
                Interval(row["starts_at"], row["ends_at"])
            )
    location_hours = hours.get(location.id) or list(EVERY_DAY)
    closed = away.get(location.id, [])

    def resource(id_: uuid.UUID) -> Resource:
        return Resource(
            id=id_,
            hours=hours.get(id_) or location_hours,
            away=[*away.get(id_, []), *closed],
            taken=taken.get(id_, []),
        )

    return Clinic(
        location, [resource(i) for i in practitioner_ids], [resource(i) for i in room_ids]
    )


async def treating_and_course(
    session: AsyncSession,
    *,
    indication: str,
    practitioner_id: uuid.UUID | None,
    plan_id: uuid.UUID,
) -> tuple[list[tuple[uuid.UUID, uuid.UUID]], Course]:
    """Slot search's first read, in one round trip: the practitioners treating
    ``indication`` (only ``practitioner_id`` when given), each with their location, and
    the plan's course (as :func:`load_course` reads it)."""
    driver = await connection(session)
    with loss_as_connection_error():
        rows = await driver.fetch(TREATING_AND_COURSE, indication, practitioner_id, plan_id)
    treating = [(row["id"], row["location_id"]) for row in rows if row["id"] is not None]
    return treating, _course([row for row in rows if row["id"] is None])


async def clinic_with_rooms(
    session: AsyncSession,
    *,
    location: LocationInfo,
    practitioner_ids: Sequence[uuid.UUID],
    span: Interval,
) -> Clinic:
    """The location's rooms and, over ``span``, the hours, time off and taken time of
    those rooms and of ``practitioner_ids`` (as :func:`load_clinic` reads them), in one
    round trip: slot search's clinic."""
    driver = await connection(session)
    with loss_as_connection_error():
        rows = await driver.fetch(
            CLINIC_WITH_ROOMS, location.id, [location.id, *practitioner_ids], span.start,
            span.end, list(practitioner_ids),
        )  # fmt: skip
    room_ids = [row["resource_id"] for row in rows if row["kind"] == "room"]
    taken: dict[uuid.UUID, list[Interval]] = {}
    for row in rows:
        if row["kind"] == "taken":
            blocked = Interval(row["starts_at"], row["ends_at"])
            taken.setdefault(row["resource_id"], []).append(blocked)
            taken.setdefault(row["room_id"], []).append(blocked)
    hours = [row for row in rows if row["kind"] in ("hours", "off")]
    return _clinic(hours, location, practitioner_ids, room_ids, taken)


async def placing(db: Db, choice: Choice) -> tuple[BookingRequest, Placing] | None:
    """Lock the course of ``choice``'s session (every path placing a session does, first
    or again) and read what the choice is judged against: its resources (404 when
    unknown), its course and the clinic around it, in one round trip
    (``lock_course_for_placing``, migration 0011). The session's request (joining the
    ORM session, if any, as if loaded; the course's others are loaded by what needs them,
    from the database as it then is), or None when there is no such request."""
    doctor = await practitioner(db, choice.practitioner_id)
    chosen_room = await room(db, choice.room_id)
    place = await location(db, doctor.location_id)
    driver = await connection(db)
    ids = [place.id, doctor.id, chosen_room.id]
    with loss_as_connection_error():
        rows = await driver.fetch(
            LOCK_COURSE_FOR_PLACING,
            choice.booking_request_id, ids, choice.starts_at - AROUND, choice.starts_at + AROUND,
        )  # fmt: skip
    of_course = [row for row in rows if row["request"] is not None]
    chosen = [
        row["request"] for row in of_course if row["request"]["id"] == choice.booking_request_id
    ]
    if not chosen:
        return None
    course = _course(
        [{**row["request"], "starts_at": row["starts_at"], "time_zone": row["time_zone"]}
         for row in of_course]
    )  # fmt: skip
    clinic = _clinic(
        [row for row in rows if row["request"] is None], place, [doctor.id], [chosen_room.id], {}
    )
    return _persistent(db, chosen[0]), Placing(doctor, chosen_room, place, course, clinic)


def _persistent(db: Db, row: asyncpg.Record) -> BookingRequest:
    """The BookingRequest of ``row`` (a whole row just read): in a session, the one it
    holds already, as a query through the ORM would give it, else the row's joining it
    as if loaded; in a pooled transaction that has made no session yet, the row's (the
    store writes its status)."""
    session = db if isinstance(db, AsyncSession) else db.made_session
    kept = (
        session.identity_map.get(session.identity_key(BookingRequest, row["id"]))
        if session is not None
        else None
    )
    if kept is not None:
        return cast(BookingRequest, kept)
    request = as_loaded(BookingRequest, row)
    if session is not None:
        session.add(request)
    return request


M = TypeVar("M")
#: Per mapped class: its instances' manager, and every column attribute unset.
_MAPPED: dict[type, tuple[Any, dict[str, None]]] = {}


def as_loaded(model: type[M], row: Mapping[str, Any]) -> M:
    """An instance of ``model`` for a row that exists (or that the store is about to
    insert), made as the ORM makes one it loads: every column set (None where ``row`` has
    none) without an attribute event each (the constructor's cost, on the booking path),
    detached until a session takes it (which then has nothing to insert)."""
    if model not in _MAPPED:
        mapper = sa.inspect(model)
        _MAPPED[model] = (mapper.class_manager, {c.key: None for c in mapper.column_attrs})
    manager, unset = _MAPPED[model]
    instance = cast(M, manager.new_instance())
    instance.__dict__.update(unset)
    instance.__dict__.update(row)
    make_transient_to_detached(instance)
    return instance


# Earlier-slot offers.


async def freed_slot(
    session: AsyncSession,
    *,
    practitioner_id: uuid.UUID,
    room_id: uuid.UUID,
    location_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
) -> FreedSlot:
    """The time an appointment kept, as offers see it."""
    doctor = await practitioner(session, practitioner_id)
    place = await location(session, location_id)
    return FreedSlot(
        practitioner_id=practitioner_id, room_id=room_id, location_id=location_id,
        time_zone=place.time_zone, starts_at=starts_at,
        minutes=int((ends_at - starts_at).total_seconds() // 60),
        indications=doctor.indications,
    )  # fmt: skip


async def previous_session(session: AsyncSession, request: BookingRequest) -> Previous | None:
    """The patient's previous session of the course (booked, held or done): who and when."""
    row = (
        await session.execute(
            sa.select(Appointment.practitioner_id, Appointment.starts_at)
            .join(BookingRequest, BookingRequest.id == Appointment.booking_request_id)
            .where(
                BookingRequest.plan_id == request.plan_id,
                BookingRequest.session_number < request.session_number,
                Appointment.status.in_([*ACTIVE, AppointmentStatus.COMPLETED]),
            )
            .order_by(BookingRequest.session_number.desc())
            .limit(1)
        )
    ).first()
    return Previous(row.practitioner_id, row.starts_at) if row else None


async def offer_candidates(
    session: AsyncSession,
    slot: FreedSlot,
    *,
    freed_by: uuid.UUID,
    freed_request_id: uuid.UUID | None,
    now: datetime,
) -> list[Candidate]:
    """The sessions that could take the slot: open ones, and booked ones later in their
    window whose patient takes earlier offers (their choice; by default, those who have
    used a self-booking link). Their window must hold the slot's day and their
    indication be one its practitioner treats; the session whose change freed the slot is
    never offered it back. Each comes with what ranking it needs: its course's allowed
    days, its previous practitioner, the patient's offers today, whether it had this slot
    before."""
    day = slot.day
    r, a = BookingRequest, Appointment
    fits = sa.and_(
        r.earliest_date <= day,
        r.latest_date >= day,
        r.indication.in_(slot.indications),
        r.id.is_distinct_from(freed_request_id),
    )
    takes_earlier = sa.func.coalesce(
        Patient.earlier_offers,
        sa.exists().where(PatientLink.patient_id == r.patient_id, PatientLink.used_at.isnot(None)),
    )
    rows = (
        await session.execute(
            sa.select(r, a.id, a.starts_at, Patient.time_zone)
            .outerjoin(a, sa.and_(a.booking_request_id == r.id, a.status.in_(UPCOMING)))
            .outerjoin(Patient, Patient.id == r.patient_id)
            .where(
                fits,
                sa.or_(
                    r.status == RequestStatus.OPEN,
                    sa.and_(
                        r.status == RequestStatus.BOOKED,
                        a.starts_at > slot.starts_at,
                        takes_earlier,
                    ),
                ),
            )
        )
    ).all()
    offers = await _offers_so_far(session, rows, freed_by=freed_by, now=now)
    courses: dict[uuid.UUID, Course] = {}
    found = []
    for request, appointment_id, appointment_starts_at, patient_zone in rows:
        if request.status == RequestStatus.BOOKED and appointment_id is None:
            continue
        if request.plan_id not in courses:
            courses[request.plan_id] = await load_course(session, request.plan_id)
        previous = await previous_session(session, request)
        today, this_slot = offers.get((request.patient_id, request.id), (0, False))
        candidate = Candidate(
            booking_request_id=request.id,
            patient_id=request.patient_id,
            session_number=request.session_number,
            indication=request.indication,
            session_minutes=request.session_minutes,
            earliest_date=request.earliest_date,
            latest_date=request.latest_date,
            waiting_since=request.created_at,
            allowed=courses[request.plan_id].allowed(request.session_number),
            previous_practitioner_id=previous.practitioner_id if previous else None,
            time_zone=patient_zone or request.time_zone,
            offers_today=today,
            appointment_id=appointment_id,
            appointment_starts_at=appointment_starts_at,
            already_offered=this_slot,
        )
        found.append(candidate)
    return found


async def _offers_so_far(
    session: AsyncSession, rows: Sequence[Any], *, freed_by: uuid.UUID, now: datetime
) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[int, bool]]:
    """Per candidate (patient, request): the offers the patient was made since midnight in
    their time zone, and whether this very session was offered this slot before."""
    if not rows:
        return {}
    recent = list(
        (
            await session.execute(
                sa.select(
                    SlotOffer.patient_id, SlotOffer.booking_request_id, SlotOffer.freed_by,
                    SlotOffer.created_at,
                ).where(
                    SlotOffer.patient_id.in_({row[0].patient_id for row in rows}),
                    sa.or_(
                        SlotOffer.freed_by == freed_by,
                        SlotOffer.created_at >= now - timedelta(days=1),
                    ),
                )
            )
        ).all()
    )  # fmt: skip
    counted = {}
    for request, _, _, patient_zone in rows:
        zone = ZoneInfo(patient_zone or request.time_zone)
        midnight = datetime.combine(now.astimezone(zone).date(), wall_clock(0), zone)
        mine = [o for o in recent if o[0] == request.patient_id]
        counted[request.patient_id, request.id] = (
            sum(o[3] >= midnight for o in mine),
            any(o[1] == request.id and o[2] == freed_by for o in mine),
        )
    return counted


async def time_taken(session: AsyncSession, slot: FreedSlot) -> bool:
    """Whether an active appointment keeps any of the slot's practitioner's or room's time
    (it may have been taken since it was freed)."""
    ends_at = slot.starts_at + timedelta(minutes=slot.minutes)
    taken = await session.scalar(
        sa.select(
            sa.exists().where(
                sa.or_(
                    Appointment.practitioner_id == slot.practitioner_id,
                    Appointment.room_id == slot.room_id,
                ),
                Appointment.status.in_(ACTIVE),
                Appointment.blocked_from < ends_at,
                Appointment.blocked_until > slot.starts_at,
            )
        )
    )
    return bool(taken)


# The hot statements.

#: What a lost or shut-down database raises through asyncpg itself.
_CONNECTION_LOST = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)


@contextlib.contextmanager
def loss_as_connection_error() -> Iterator[None]:
    """A lost database raises ConnectionError here, as the consumer expects (it retries
    those and never dead-letters them; through SQLAlchemy it would see the same)."""
    try:
        yield
    except _CONNECTION_LOST as error:
        raise ConnectionError(f"database connection lost: {error}") from error


async def connection(db: Db) -> asyncpg.Connection:
    """The asyncpg connection of ``db``'s open transaction (a session's is looked up once
    per transaction: a transaction keeps its connection to the end)."""
    if isinstance(db, Transaction):
        return await db.connection()
    session = db
    if session.new or session.dirty or session.deleted:
        await session.flush()
    transaction = session.get_transaction()
    kept = session.info.get(_KEPT)
    if transaction is not None and kept is not None and kept[0] is transaction:
        return cast(asyncpg.Connection, kept[1])
    raw = await (await session.connection()).get_raw_connection()
    driver = cast(asyncpg.Connection, raw.driver_connection)
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement. A
        # plain statement came first: the adapter begins now, so the transaction stays
        # its own to commit or roll back. (A private method: sqlalchemy is pinned, and
        # tests/integration/test_booking_hot_path.py fails if it changes.)
        await cast(Any, raw.dbapi_connection)._start_transaction()
    if not driver.is_in_transaction():
        raise RuntimeError("hot-path statements need the session's transaction begun")
    session.info[_KEPT] = (session.get_transaction(), driver)
    return driver


_KEPT = "hot_path_connection"

# Weekly hours and time off of resources $1 over [$2, $3), in one round trip.
HOURS_AND_TIME_OFF = (
    "SELECT resource_id, weekday, opens, closes,"
    " NULL::timestamptz AS starts_at, NULL::timestamptz AS ends_at"
    " FROM working_hours WHERE resource_id = ANY($1::uuid[])"
    " UNION ALL"
    " SELECT resource_id, NULL::smallint, NULL::time, NULL::time, starts_at, ends_at"
    " FROM time_off WHERE resource_id = ANY($1::uuid[]) AND starts_at < $3 AND ends_at > $2"
)


#: shared.contracts.booking.ACTIVE as SQL, as the partial indexes and the exclusion
#: constraints write it (constants only).
ACTIVE_SQL = "status IN (" + ", ".join(f"'{status}'" for status in sorted(ACTIVE)) + ")"
# lock_course_for_placing (migration 0011): the course of request $1 locked, then each of
# its requests (whole, as ``request``) with its active appointment's ``starts_at`` and
# location ``time_zone``, and the hours and time off of resources $2 over [$3, $4) (as
# HOURS_AND_TIME_OFF reads them; ``request`` null).
LOCK_COURSE_FOR_PLACING = "SELECT * FROM lock_course_for_placing($1, $2, $3, $4)"


# A plan's course: each of its requests with its active appointment's start and location
# time zone (None when none). The appointment (one at most) is looked up by the request in
# the partial unique index, as lock_course_for_placing does (LATERAL ... LIMIT 1: as a
# join, the planner hashed every active appointment whenever its statistics lagged
# behind the table, a cost growing with it). The plan's parameter follows _COURSE_OF.
_COURSE_COLUMNS = (
    "r.session_number, r.total_sessions, r.target_date, r.earliest_date, r.latest_date,"
    " r.min_gap_days, a.starts_at, a.time_zone"
)
_COURSE_OF = (
    " FROM booking_request r LEFT JOIN LATERAL (SELECT a.starts_at, l.time_zone"  # noqa: S608
    " FROM appointment a JOIN location l ON l.id = a.location_id"
    f" WHERE a.booking_request_id = r.id AND a.{ACTIVE_SQL} LIMIT 1) a ON true"
    " WHERE r.plan_id = "
)
COURSE = f"SELECT {_COURSE_COLUMNS}{_COURSE_OF}$1"
# Slot search's first read: practitioners treating $1 (only $2 when not null) with their
# location, then the COURSE of plan $3; a course row has no id.
TREATING_AND_COURSE = (
    "SELECT id, location_id, NULL::int AS session_number, NULL::int AS total_sessions,"  # noqa: S608
    " NULL::date AS target_date, NULL::date AS earliest_date, NULL::date AS latest_date,"
    " NULL::int AS min_gap_days, NULL::timestamptz AS starts_at, NULL::text AS time_zone"
    " FROM practitioner WHERE indications @> ARRAY[$1::text] AND ($2::uuid IS NULL OR id = $2)"
    f" UNION ALL SELECT NULL, NULL, {_COURSE_COLUMNS}{_COURSE_OF}$3"
)
# Slot search's clinic: the rooms of location $1; the hours and time off over [$3, $4) of
# resources $2 and of those rooms; the blocked spans over [$3, $4) of the active
# appointments of practitioners $5 or of those rooms (resource_id: the practitioner).
_ROOMS_HERE = "(SELECT id FROM room WHERE location_id = $1)"
CLINIC_WITH_ROOMS = (
    "SELECT 'room' AS kind, id AS resource_id, NULL::smallint AS weekday,"  # noqa: S608
    " NULL::time AS opens, NULL::time AS closes, NULL::timestamptz AS starts_at,"
    " NULL::timestamptz AS ends_at, NULL::uuid AS room_id"
    " FROM room WHERE location_id = $1"
    " UNION ALL"
    " SELECT 'hours', resource_id, weekday, opens, closes, NULL, NULL, NULL FROM working_hours"
    f" WHERE resource_id = ANY($2::uuid[]) OR resource_id IN {_ROOMS_HERE}"
    " UNION ALL"
    " SELECT 'off', resource_id, NULL, NULL, NULL, starts_at, ends_at, NULL FROM time_off"
    f" WHERE (resource_id = ANY($2::uuid[]) OR resource_id IN {_ROOMS_HERE})"
    " AND starts_at < $4 AND ends_at > $3"
    " UNION ALL"
    " SELECT 'taken', practitioner_id, NULL, NULL, NULL, blocked_from, blocked_until, room_id"
    f" FROM appointment WHERE (practitioner_id = ANY($5::uuid[]) OR room_id IN {_ROOMS_HERE})"
    f" AND {ACTIVE_SQL} AND blocked_from < $4 AND blocked_until > $3"
)


async def _hours_and_time_off(
    session: AsyncSession, ids: list[uuid.UUID], start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """Rows of HOURS_AND_TIME_OFF: weekday set for an opening span, else time off."""
    driver = await connection(session)
    with loss_as_connection_error():
        rows = await driver.fetch(HOURS_AND_TIME_OFF, ids, start, end)
    return cast(list[asyncpg.Record], rows)


APPOINTMENT_COLUMNS = {
    "id": "uuid", "version": "int", "status": "text", "patient_id": "uuid",
    "booking_request_id": "uuid", "practitioner_id": "uuid", "room_id": "uuid",
    "location_id": "uuid", "starts_at": "timestamptz", "ends_at": "timestamptz",
    "blocked_from": "timestamptz", "blocked_until": "timestamptz",
    "created_at": "timestamptz", "updated_at": "timestamptz",
    "hold_expires_at": "timestamptz", "changed_by": "text",
}  # fmt: skip

# The practitioner's and the room's advisory locks (in the caller's sorted order), then
# the row, skipped (no error, no savepoint) when an exclusion constraint or the
# one-active-per-session index finds the time taken: RETURNING then yields nothing.
# (Built from constants only; every value is a bind parameter.)
_RESOURCE_LOCKS = (
    "resource_locks AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0)),"
    " pg_advisory_xact_lock(hashtextextended($2, 0)))"
)
_INSERT = (
    f"INSERT INTO appointment ({', '.join(APPOINTMENT_COLUMNS)}) SELECT "  # noqa: S608
    + ", ".join(f"${i}::{kind}" for i, kind in enumerate(APPOINTMENT_COLUMNS.values(), start=3))
    + " FROM resource_locks ON CONFLICT DO NOTHING RETURNING id"
)
INSERT_APPOINTMENT = f"WITH {_RESOURCE_LOCKS} {_INSERT}"


def _parameter(column: str) -> str:
    """INSERT_APPOINTMENT's parameter of the appointment's ``column``, cast."""
    number = list(APPOINTMENT_COLUMNS).index(column) + 3
    return f"${number}::{APPOINTMENT_COLUMNS[column]}"


# The same, also saying whether a live offer (a partial index) gives time the new
# appointment keeps or is for its session: what use_cases.offers.withdraw_taken would
# find. Without one it need not look again (see no_live_offers).
_LIVE_OFFER_IN_THE_WAY = (
    "EXISTS (SELECT 1 FROM slot_offer WHERE status = 'live' AND ("  # noqa: S608
    f"booking_request_id = {_parameter('booking_request_id')}"
    f" OR ((practitioner_id = {_parameter('practitioner_id')}"
    f" OR room_id = {_parameter('room_id')})"
    f" AND freed_from < {_parameter('blocked_until')}"
    f" AND freed_until > {_parameter('blocked_from')})))"
)
INSERT_APPOINTMENT_SEEING_OFFERS = f"{INSERT_APPOINTMENT}, {_LIVE_OFFER_IN_THE_WAY}"
_NO_LIVE_OFFERS = "appointments_with_no_live_offers"


async def _insert(
    db: Db, locks: tuple[str, str], values: dict[str, Any], announcing: Announcement | None
) -> bool:
    """Insert the appointment unless its time is taken, with its announcement when given
    (see INSERT_APPOINTMENT_ANNOUNCED); True if inserted (and noted for :func:`no_live_offers`
    when no live offer was in its way)."""
    driver = await connection(db)
    row_values = [values[c] for c in APPOINTMENT_COLUMNS]
    with loss_as_connection_error():
        if announcing is None:
            row = await driver.fetchrow(INSERT_APPOINTMENT_SEEING_OFFERS, *locks, *row_values)
        else:
            row = await driver.fetchrow(
                INSERT_APPOINTMENT_ANNOUNCED, *locks, *row_values,
                *_outbox_values(announcing.row), announcing.request_id, announcing.request_status,
            )  # fmt: skip
    if row is None:
        return False
    if not row[1]:
        info, current = _notes_of(db)
        noted = info.get(_NO_LIVE_OFFERS)
        if noted is None or noted[0] is not current:
            noted = info[_NO_LIVE_OFFERS] = (current, set())
        noted[1].add(values["id"])
    return True


def no_live_offers(db: Db, appointment_id: uuid.UUID) -> bool:
    """Whether the appointment, inserted in this transaction, met no live offer on its
    time or for its session when it was inserted, and no offer was made in this session
    since: then no live offer is for it to withdraw (one made meanwhile by another
    transaction is as possible as after any look; a claim of it finds the time taken)."""
    info, current = _notes_of(db)
    noted = info.get(_NO_LIVE_OFFERS)
    return noted is not None and noted[0] is current and appointment_id in noted[1]


def _notes_of(db: Db) -> tuple[dict[str, Any], object]:
    """Where ``db`` notes what its statements saw, and the transaction the notes are of (a
    session outlives its transactions; its ORM session shares a pooled one's notes)."""
    if isinstance(db, Transaction):
        return db.info, db
    return db.info, db.get_transaction()


@sa.event.listens_for(Session, "transient_to_pending")
def _offer_made(session: Session, instance: object) -> None:
    """An offer made in a session: what its inserts saw of live offers no longer holds."""
    if isinstance(instance, SlotOffer):
        session.info.pop(_NO_LIVE_OFFERS, None)


#: The outbox's columns, and the cast of each one's parameter.
_OUTBOX = {
    "event_id": "::uuid", "topic": "", "key": "", "type": "", "source": "", "subject": "",
    "time": "::timestamptz", "traceparent": "", "tracestate": "", "data": "::jsonb",
}  # fmt: skip


def _staging(first: int, *, only_if: str = "") -> tuple[str, str]:
    """The CTEs and the insert staging one outbox row from parameters ``first`` on (the
    key is the third): the key's writers' advisory lock (one patient's writers take
    turns, so the relay sees their events in commit order), the NOTIFY that wakes the
    relays at commit, and the row; all only if CTE ``only_if`` (when named) yields one."""
    source = f" FROM {only_if}" if only_if else ""
    values = ", ".join(f"${n}{cast}" for n, cast in enumerate(_OUTBOX.values(), start=first))
    return (
        f"key_lock AS (SELECT pg_advisory_xact_lock({WRITERS}, hashtext(${first + 2})){source}),"
        f" wake AS (SELECT pg_notify('{CHANNEL}', ''){source})",
        f"INSERT INTO outbox ({', '.join(_OUTBOX)}) SELECT {values} FROM key_lock, wake",  # noqa: S608
    )


STAGE_EVENT = "WITH {} {}".format(*_staging(1))
# The same, writing the booking request's new status in the same statement.
STAGE_EVENT_WITH_REQUEST_STATUS = (
    "WITH request_status AS (UPDATE booking_request SET status = $12 WHERE id = $11::uuid),"  # noqa: S608
    + " {} {}".format(*_staging(1))
)
# A new appointment, its event and its request's new status in one statement (one round
# trip): INSERT_APPOINTMENT_SEEING_OFFERS's insert and answer, and, only when the row was
# inserted, STAGE_EVENT_WITH_REQUEST_STATUS's writes, the outbox row's parameters after
# the appointment's, then the request's id and status. Data-modifying CTEs all run to
# the end; each runs when what it reads is ready, so the key's lock comes before the
# outbox row takes its id, as in STAGE_EVENT.
_FIRST_OUTBOX = len(APPOINTMENT_COLUMNS) + 3
_REQUEST_ID, _REQUEST_STATUS = _FIRST_OUTBOX + len(_OUTBOX), _FIRST_OUTBOX + len(_OUTBOX) + 1
_KEY_LOCK_AND_WAKE, _STAGED = _staging(_FIRST_OUTBOX, only_if="made")
INSERT_APPOINTMENT_ANNOUNCED = (
    f"WITH {_RESOURCE_LOCKS}, made AS ({_INSERT}),"  # noqa: S608
    f" request_status AS (UPDATE booking_request SET status = ${_REQUEST_STATUS}"
    f" WHERE id = ${_REQUEST_ID}::uuid AND EXISTS (SELECT FROM made)),"
    f" {_KEY_LOCK_AND_WAKE}, staged AS ({_STAGED})"
    f" SELECT id, {_LIVE_OFFER_IN_THE_WAY} FROM made"
)


@dataclasses.dataclass(frozen=True)
class Announcement:
    """What a new appointment's insert writes with it (INSERT_APPOINTMENT_ANNOUNCED): its
    event (the outbox row) and its booking request's new status."""

    row: dict[str, Any]
    request_id: uuid.UUID
    request_status: str


def _outbox_values(row: Mapping[str, Any]) -> list[Any]:
    """An outbox row's parameters, in the order of ``_OUTBOX`` (its payload as JSON)."""
    values = [row[name] for name in _OUTBOX]
    values[-1] = json.dumps(values[-1], separators=(",", ":"))
    return values


async def stage_event(db: Db, row: dict[str, Any], request_status: tuple[Any, str] | None) -> None:
    """Stage one outbox row (see STAGE_EVENT), with the request's status when given."""
    driver = await connection(db)
    values = _outbox_values(row)
    with loss_as_connection_error():
        if request_status is None:
            await driver.execute(STAGE_EVENT, *values)
        else:
            await driver.execute(STAGE_EVENT_WITH_REQUEST_STATUS, *values, *request_status)


# Taking the time.


async def insert_appointment(
    db: Db,
    appointment: Appointment,
    *,
    now: datetime,
    expire: Expire,
    announcing: Announcement | None = None,
) -> bool:
    """Insert the appointment (see INSERT_APPOINTMENT), with what it is ``announcing`` in
    the same statement; only when PostgreSQL refused it is the collision looked at: a
    run-out hold in the way is handed to ``expire`` and the insert tried once more,
    without the announcement (the expired holds' events, staged after, come first);
    anything else is the 409 naming what is taken. Whether it was announced."""
    values = {column: getattr(appointment, column) for column in APPOINTMENT_COLUMNS}
    first, second = sorted((str(values["practitioner_id"]), str(values["room_id"])))
    times = Slot(
        values["starts_at"], values["ends_at"], values["blocked_from"], values["blocked_until"]
    )
    for attempt in (1, 2):
        announced = announcing if attempt == 1 else None
        try:
            if await _insert(db, (first, second), values, announced):
                return announced is not None
        except asyncpg.DeadlockDetectedError:
            raise _concurrent() from None
        if attempt == 1 and await _expire_colliding_holds(
            orm(db), values["practitioner_id"], values["room_id"], times, now=now, expire=expire
        ):
            continue
        raise await _what_is_taken(orm(db), values["practitioner_id"], values["room_id"], times)
    raise AssertionError("unreachable")


async def claim_time(
    session: AsyncSession,
    statement: sa.Executable,
    *,
    practitioner_id: uuid.UUID,
    room_id: uuid.UUID,
    times: Slot,
    now: datetime,
    expire: Expire,
) -> Appointment:
    """Run the insert or update that takes ``times``; PostgreSQL says if it is taken.

    The practitioner's and the room's advisory locks are taken first, in a fixed order:
    two constraints over two columns would otherwise let two bookings each wait for the
    other's uncommitted row (a deadlock PostgreSQL breaks by failing one of them).
    """
    first, second = sorted((str(practitioner_id), str(room_id)))
    await session.execute(
        sa.select(
            sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(first, 0)),
            sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(second, 0)),
        )
    )
    for attempt in (1, 2):
        try:
            async with session.begin_nested():
                result = await session.scalars(
                    statement, execution_options={"populate_existing": True}
                )
                appointment: Appointment = result.one()
                return appointment
        except DBAPIError as error:
            if is_transaction_clash(error):
                # A course booking locks several resources; a rare cycle is still a clash.
                raise _concurrent() from None
            if not isinstance(error, IntegrityError):
                raise
            conflict = _double_booking(error)
            if conflict is None:
                raise
            if attempt == 2 or not await _expire_colliding_holds(
                session, practitioner_id, room_id, times, now=now, expire=expire
            ):
                raise conflict from None
    raise AssertionError("unreachable")


async def _what_is_taken(
    session: AsyncSession, practitioner_id: uuid.UUID, room_id: uuid.UUID, times: Slot
) -> StateConflict:
    """The 409 naming what the refused insert collided with."""
    overlapping = sa.and_(
        Appointment.status.in_(ACTIVE),
        Appointment.blocked_from < times.blocked_until,
        Appointment.blocked_until > times.blocked_from,
    )
    rows = await session.execute(
        sa.select(Appointment.practitioner_id, Appointment.room_id).where(
            overlapping,
            sa.or_(
                Appointment.practitioner_id == practitioner_id,
                Appointment.room_id == room_id,
            ),
        )
    )
    taken = {"practitioner" if p == practitioner_id else "room" for p, _ in rows}
    if "practitioner" in taken:
        return StateConflict(
            "the practitioner is already booked at that time", conflict="practitioner"
        )
    if "room" in taken:
        return StateConflict("the room is already booked at that time", conflict="room")
    return StateConflict("this session already has an appointment", conflict="booking_request")


async def _expire_colliding_holds(
    session: AsyncSession,
    practitioner_id: uuid.UUID,
    room_id: uuid.UUID,
    times: Slot,
    *,
    now: datetime,
    expire: Expire,
) -> bool:
    """Hand the run-out holds on this practitioner or room at this time to ``expire``;
    any found?"""
    colliding = await session.scalars(
        sa.select(Appointment)
        .where(
            Appointment.status == AppointmentStatus.HELD,
            Appointment.hold_expires_at <= now,
            sa.or_(
                Appointment.practitioner_id == practitioner_id,
                Appointment.room_id == room_id,
            ),
            Appointment.blocked_from < times.blocked_until,
            Appointment.blocked_until > times.blocked_from,
        )
        .with_for_update(skip_locked=True)
    )
    found = False
    for hold in colliding:
        expire(hold)
        found = True
    return found


def _concurrent() -> StateConflict:
    return StateConflict(
        "another booking took these resources at the same moment; try again",
        conflict="concurrent",
    )


def _double_booking(error: IntegrityError) -> StateConflict | None:
    """The 409 for a violated no-double-booking constraint, naming what is taken."""
    name = str(error.orig)
    if "no_double_booking_practitioner" in name:
        return StateConflict(
            "the practitioner is already booked at that time", conflict="practitioner"
        )
    if "no_double_booking_room" in name:
        return StateConflict("the room is already booked at that time", conflict="room")
    if "uq_appointment_active_booking_request" in name:
        return StateConflict("this session already has an appointment", conflict="booking_request")
    return None
