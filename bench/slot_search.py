"""Slot search latency, one request at a time: p50/p99 of the staff search and of the
patient page's, for a booking request whose window is a week, over a one-practitioner
clinic and over ten practitioners and five rooms, each booked to 60%.

    .venv/bin/python -m bench.slot_search [--samples 1000] [--fill 0.6] [--seed 18]
        [--profile DIR]

Uses DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS when set, else starts the embedded
PostgreSQL and Apache Kafka like `make dev`. One booking API process (`python -m booking
serve`, the service's settings but for BOOKING_LINK_REQUESTS_PER_MINUTE, raised so the
link's rate limit does not refuse the samples) on a fresh database, seeded with two
locations in Europe/Paris, open Monday to Friday 08:00-20:00 and Saturday 09:00-13:00:
- one practitioner-week: one practitioner (Monday to Friday 09:00-18:00) and one room;
- ten practitioners-week: ten practitioners (five 08:00-16:00, five 12:00-20:00, four of
  them on Saturday too) and five rooms.
Each clinic is then booked to ``--fill`` of its 45-minute blocks (a 30-minute session and
its buffers) for next week, through POST /v1/appointments: the practitioner's blocks in
the first clinic, the rooms' in the second (each with a practitioner free then), chosen
at random (``--seed``). The request searched is session 1 of a six-session plan, its
window next Monday to Sunday. Searched alternately, one at a time, after a warm-up:
- staff: GET /v1/booking-requests/{id}/slots (staff token; the default limit of 100);
- patient page: GET /v1/self-booking/requests/{id}/slots with the link's X-Patient-Token
  (issued by POST /v1/booking-requests/{id}/invitations; the page's call, up to 200).
Targets (issue #18, 2 cores): p99 <= 20 ms over one practitioner-week, <= 60 ms over ten.
``--profile DIR``: the API process under cProfile (bench/booking_profile.py).
The last line: ``slot search p99: one practitioner-week X ms, ten practitioners-week Y ms``
(the slower of the two endpoints for each).
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import uvloop

from bench.booking_load import Connection, reserve_all
from bench.harness import (
    Infrastructure,
    Layout,
    RequestRow,
    add_location,
    add_practitioners,
    add_requests,
    add_rooms,
    argument_parser,
    booking_database,
    infrastructure,
    machine_lines,
    percentile,
    serving,
    spread,
    staff_headers,
)
from shared.auth import Role
from shared.contracts.booking import BookingInvitationIssued

PARIS = ZoneInfo("Europe/Paris")
SESSION, BLOCK = timedelta(minutes=30), timedelta(minutes=45)  # a session; with its buffers
WEEKDAYS, SATURDAY = range(5), 5
LOCATION_HOURS = [
    *({"weekday": d, "opens": "08:00", "closes": "20:00"} for d in WEEKDAYS),
    {"weekday": SATURDAY, "opens": "09:00", "closes": "13:00"},
]
TARGETS = {"one practitioner-week": 0.020, "ten practitioners-week": 0.060}


def _hours(opens: str, closes: str, days: list[int]) -> list[dict[str, Any]]:
    return [{"weekday": d, "opens": opens, "closes": closes} for d in days]


@dataclass
class Clinic:
    """One location of the benchmark: who works when, and the request searched there."""

    name: str
    indication: str
    practitioner_hours: list[list[dict[str, Any]]]
    rooms: int
    location: uuid.UUID = field(default_factory=uuid.uuid4)
    practitioners: list[uuid.UUID] = field(default_factory=list)
    room_ids: list[uuid.UUID] = field(default_factory=list)
    searched: list[RequestRow] = field(default_factory=list)  # the plan; session 1 searched
    blocks: int = 0  # 45-minute blocks that could be booked (the bottleneck's)
    fillers: list[dict[str, Any]] = field(default_factory=list)  # bodies of the bookings
    filler_requests: list[RequestRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.practitioners = [uuid.uuid4() for _ in self.practitioner_hours]
        self.room_ids = [uuid.uuid4() for _ in range(self.rooms)]


def clinics() -> list[Clinic]:
    weekdays = list(WEEKDAYS)
    ten = [
        _hours("08:00", "16:00", weekdays + ([SATURDAY] if i < 4 else []))
        if i % 2 == 0
        else _hours("12:00", "20:00", weekdays + ([SATURDAY] if i < 4 else []))
        for i in range(10)
    ]
    return [
        Clinic("one practitioner-week", "hair_regrowth", [_hours("09:00", "18:00", weekdays)], 1),
        Clinic("ten practitioners-week", "cellulite", ten, 5),
    ]


def _at(day: date, clock: str) -> datetime:
    hour, minute = map(int, clock.split(":"))
    return datetime.combine(day, datetime.min.time(), PARIS).replace(hour=hour, minute=minute)


def _starts(day: date, hours: list[dict[str, Any]]) -> list[datetime]:
    """The 45-minute grid of a day's hours: every start whose session fits inside them."""
    starts = []
    for span in (h for h in hours if h["weekday"] == day.weekday()):
        start, closes = _at(day, span["opens"]), _at(day, span["closes"])
        while start + SESSION <= closes:
            starts.append(start)
            start += BLOCK
    return starts


def _works(hours: list[dict[str, Any]], start: datetime) -> bool:
    day = start.date()
    return any(
        _at(day, h["opens"]) <= start and start + SESSION <= _at(day, h["closes"])
        for h in hours
        if h["weekday"] == day.weekday()
    )


def plan_bookings(clinic: Clinic, monday: date, fill: float, rng: random.Random) -> None:
    """Book ``fill`` of the clinic's bottleneck blocks of the week starting ``monday``: the
    single practitioner's in a one-practitioner clinic, else the rooms' (each with a
    practitioner who works and is free then); one single-session request for each."""
    days = [monday + timedelta(days=n) for n in range(7)]
    if len(clinic.practitioners) == 1:
        lanes = [clinic.practitioner_hours[0]]
    else:
        lanes = [LOCATION_HOURS] * len(clinic.room_ids)
    blocks = [(lane, start) for lane, hours in enumerate(lanes) for d in days
              for start in _starts(d, hours)]  # fmt: skip
    clinic.blocks = len(blocks)
    busy: set[tuple[int, datetime]] = set()
    for lane, start in sorted(rng.sample(blocks, round(fill * len(blocks))), key=lambda b: b[1]):
        free = [
            p
            for p, hours in enumerate(clinic.practitioner_hours)
            if (p, start) not in busy and _works(hours, start)
        ]
        if not free:
            continue
        practitioner = rng.choice(free)
        busy.add((practitioner, start))
        room = clinic.room_ids[0 if len(lanes) == 1 else lane]
        day = start.date()
        request = RequestRow(
            uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), day, day, day, clinic.indication
        )
        clinic.filler_requests.append(request)
        clinic.fillers.append(
            {
                "booking_request_id": str(request.id),
                "practitioner_id": str(clinic.practitioners[practitioner]),
                "room_id": str(room),
                "starts_at": start.isoformat(),
            }
        )
    # The plan searched: six weekly sessions, the first one's window next week.
    plan, patient = uuid.uuid4(), uuid.uuid4()
    clinic.searched = [
        RequestRow(
            uuid.uuid4(), plan, patient,
            earliest=monday + timedelta(weeks=n), latest=monday + timedelta(weeks=n, days=6),
            target=monday + timedelta(weeks=n, days=2), indication=clinic.indication,
            session_number=n + 1, total_sessions=6,
        )
        for n in range(6)
    ]  # fmt: skip


async def write_clinics(dsn: str, all_clinics: list[Clinic]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for clinic in all_clinics:
            await add_location(connection, clinic.location, clinic.name)
            await add_practitioners(
                connection, clinic.location, clinic.practitioners, clinic.indication
            )
            await add_rooms(connection, clinic.location, clinic.room_ids)
            await add_requests(connection, [*clinic.searched, *clinic.filler_requests])
            # booking's copy of the patient (plans' PatientRegistered would bring it).
            await connection.execute(
                "INSERT INTO patient (id, full_name, time_zone, needle_sensitive)"
                " VALUES ($1, 'Bench Patient', 'Europe/Paris', false)",
                clinic.searched[0].patient_id,
            )
    finally:
        await connection.close()


async def furnish(base: str, dsn: str, all_clinics: list[Clinic]) -> dict[str, str]:
    """Through the API: every resource's weekly hours, the bookings that fill the week,
    and a self-booking link for each searched request. Returns each clinic's link token."""
    address = urlsplit(base)
    host, port = address.hostname or "", address.port or 0
    admin = Connection(host, port, staff_headers(Role.ADMIN))
    tokens = {}
    try:
        for clinic in all_clinics:
            hours_of = zip(clinic.practitioners, clinic.practitioner_hours, strict=True)
            weekly = [
                (f"/v1/locations/{clinic.location}/weekly-hours", LOCATION_HOURS),
                *((f"/v1/practitioners/{p}/weekly-hours", hours) for p, hours in hours_of),
            ]
            for path, hours in weekly:
                status, body = await admin.request("PUT", path, json.dumps(hours).encode())
                if status != 200:
                    raise RuntimeError(f"PUT {path}: {status} {body[:300]!r}")
        clients = [Connection(host, port, staff_headers()) for _ in range(4)]
        for clinic in all_clinics:
            run = await reserve_all(clients, "/v1/appointments", clinic.fillers)
            if run.failures:
                raise RuntimeError(f"{clinic.name}: bookings refused: {run.failures}")
        for connection in clients:
            await connection.close()
        for clinic in all_clinics:
            path = f"/v1/booking-requests/{clinic.searched[0].id}/invitations"
            status, body = await admin.post(path, {})
            if status != 201:
                raise RuntimeError(f"POST {path}: {status} {body[:300]!r}")
            tokens[clinic.name] = await _link_token(dsn, clinic.searched[0].id)
    finally:
        await admin.close()
    return tokens


async def _link_token(dsn: str, request_id: uuid.UUID) -> str:
    """The token of the link booking issued for ``request_id``: it travels only in the
    invitation event (booking keeps its hash), so it is read from the outbox."""
    connection = await asyncpg.connect(dsn)
    try:
        link: str = await connection.fetchval(
            "SELECT data->>'link_url' FROM outbox WHERE type = $1"
            " AND data->>'booking_request_id' = $2 ORDER BY id DESC LIMIT 1",
            BookingInvitationIssued.type, str(request_id),
        )  # fmt: skip
    finally:
        await connection.close()
    return unquote(link.rsplit("/", 1)[1])


@dataclass
class Series:
    clinic: str
    endpoint: str  # "staff" or "patient page"
    connection: Connection
    path: str
    latencies: list[float] = field(default_factory=list)
    slots: int = 0


async def measure(series: list[Series], samples: int, warm_up: int) -> None:
    """Each series in turn, one request at a time; 200 with slots, else it stops."""
    for n in range(warm_up + samples):
        for one in series:
            started = time.perf_counter()
            status, body = await one.connection.get(one.path)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"{one.clinic}, {one.endpoint}: {status} {body[:300]!r}")
            if n == 0:
                one.slots = len(json.loads(body))
                if not one.slots:
                    raise RuntimeError(f"{one.clinic}, {one.endpoint}: no slot found")
            if n >= warm_up:
                one.latencies.append(elapsed)


def next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


def run(
    infra: Infrastructure,
    samples: int,
    fill: float,
    seed: int,
    scratch: Path,
    profile: Path | None = None,
) -> None:
    rng = random.Random(seed)
    monday = next_monday(datetime.now(PARIS).date())
    all_clinics = clinics()
    for clinic in all_clinics:
        plan_bookings(clinic, monday, fill, rng)
    layout = Layout(workers=1, relay="none", pre_ping=True, profile=profile)
    extra = {"BOOKING_LINK_REQUESTS_PER_MINUTE": "100000000"}
    with booking_database(infra.server_url) as database:
        asyncio.run(write_clinics(database.dsn, all_clinics))
        log = scratch / "booking.log"
        with serving(database.url, infra.servers, layout, 4, log, extra) as served:
            tokens = uvloop.run(furnish(served.bases[0], database.dsn, all_clinics))
            address = urlsplit(served.bases[0])
            host, port = address.hostname or "", address.port or 0
            series = []
            for clinic in all_clinics:
                request = clinic.searched[0].id
                series += [
                    Series(clinic.name, "staff", Connection(host, port, staff_headers()),
                           f"/v1/booking-requests/{request}/slots"),
                    Series(clinic.name, "patient page",
                           Connection(host, port, {"X-Patient-Token": tokens[clinic.name]}),
                           f"/v1/self-booking/requests/{request}/slots"),
                ]  # fmt: skip
            uvloop.run(measure(series, samples, warm_up=min(50, samples)))
        report(all_clinics, series, samples, monday)
        for line in machine_lines(infra, database.dsn):
            print(line)
    worst = {
        clinic.name: max(percentile(s.latencies, 0.99) for s in series if s.clinic == clinic.name)
        for clinic in all_clinics
    }
    print(
        f"slot search p99: one practitioner-week {worst['one practitioner-week'] * 1000:.1f} ms,"
        f" ten practitioners-week {worst['ten practitioners-week'] * 1000:.1f} ms"
    )


def report(all_clinics: list[Clinic], series: list[Series], samples: int, monday: date) -> None:
    print(
        f"slot search: 1 booking API process, {samples} samples per endpoint and clinic, "
        f"one request at a time; the week of {monday.isoformat()}"
    )
    for clinic in all_clinics:
        booked = len(clinic.fillers)
        print(
            f"{clinic.name}: {len(clinic.practitioners)} practitioner(s), {len(clinic.room_ids)}"
            f" room(s), {booked} of {clinic.blocks} blocks booked ({booked / clinic.blocks:.0%})"
            f", target p99 <= {TARGETS[clinic.name] * 1000:.0f} ms"
        )
        for one in (s for s in series if s.clinic == clinic.name):
            print(
                f"  {one.endpoint:12} {spread(one.latencies)} ({one.slots} slots)  GET {one.path}"
            )


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--samples", type=int, default=1000, help="per endpoint and clinic")
    parser.add_argument("--fill", type=float, default=0.6, help="share of the week booked")
    parser.add_argument("--seed", type=int, default=18, help="of the random bookings")
    parser.add_argument("--profile", type=Path, help="the API process under cProfile")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-slots-") as scratch,
        infrastructure(Path(scratch)) as infra,
    ):
        profile = args.profile.resolve() if args.profile is not None else None
        run(infra, args.samples, args.fill, args.seed, Path(scratch), profile)


if __name__ == "__main__":
    main()
