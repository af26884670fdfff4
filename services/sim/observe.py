"""Reading the running system straight from its parts: the three databases, the broker
and the Twilio sandbox. Nothing here writes; nothing goes through a service's API.

:class:`Observer` holds the connections; :meth:`Observer.quiesce` waits until the system
has nothing left to do at the pinned instant (outboxes drained, every consumer group
caught up, nothing due in notify, no hold past its time); :meth:`Observer.world` reads
what the invariants check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SERVICES = ("plans", "booking", "notify")
#: Which topics each service's consumer group reads (its app spec's ``consumes``).
CONSUMES = {
    "plans": ("booking.events", "notify.events"),
    "booking": ("plans.events", "notify.events"),
    "notify": ("plans.events", "booking.events"),
}
TOPICS = ("plans.events", "booking.events", "notify.events")
INVITATION = "clinic.booking.booking_invitation_issued.v1"
APPOINTMENT_EVENTS = "clinic.booking.appointment_"
#: Appointment statuses that hold a practitioner's and a room's time.
ACTIVE = frozenset({"held", "booked", "confirmed", "checked_in"})
#: Message statuses meaning Twilio (the sandbox) has it.
LEFT_US = frozenset({"queued", "sent", "delivered", "undelivered", "failed"})


def database_url(env: Mapping[str, str], service: str) -> str:
    """The asyncpg URL of ``service``'s database, as the service itself resolves it."""
    own = env.get(f"{service.upper()}_DATABASE_URL")
    url = (
        make_url(own) if own else make_url(env["DATABASE_URL"]).set(database=f"mesocycle_{service}")
    )
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@dataclass(frozen=True)
class PatientState:
    """A patient as plans (the owner) has them."""

    phone: str
    language: str
    time_zone: str
    consent: bool
    erased: bool
    needle_sensitive: bool


@dataclass(frozen=True)
class OfferState:
    """An earlier-slot offer as booking (the owner) has it."""

    status: str
    claim_by: datetime
    closed_at: datetime | None


@dataclass
class Snapshot:
    """The little state an SMS's premise stands on, at one quiet moment."""

    at: datetime
    requests: dict[str, str] = field(default_factory=dict)  # id -> status
    appointments: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    offers: dict[str, OfferState] = field(default_factory=dict)
    patients: dict[str, PatientState] = field(default_factory=dict)
    opted_out: set[str] = field(default_factory=set)  # notify's STOP


@dataclass
class World:
    """Everything the invariants read, as rows (dicts), at one quiet moment."""

    at: datetime
    plans_patients: list[dict[str, Any]]
    protocols: dict[str, dict[str, Any]]
    plans: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    booking_patients: dict[str, dict[str, Any]]
    requests: list[dict[str, Any]]
    appointments: list[dict[str, Any]]
    locations: dict[str, dict[str, Any]]
    practitioners: dict[str, dict[str, Any]]
    rooms: dict[str, dict[str, Any]]
    hours: list[dict[str, Any]]
    time_off: list[dict[str, Any]]
    notify_patients: dict[str, dict[str, Any]]
    notify_appointments: dict[str, dict[str, Any]]
    messages: list[dict[str, Any]]
    outbox_left: dict[str, int]
    lag: dict[str, int]
    dead_letters: dict[str, int]


@dataclass(frozen=True)
class Busy:
    """What the system still has to do at the pinned instant (all zero: quiet)."""

    outbox: int
    lag: int
    due: int
    sending: int
    unknown: int
    expired_holds: int
    #: SMS the sandbox has not reported delivered (or not) yet: its callbacks are coming.
    callbacks: int = 0
    #: Live earlier-slot offers past their claim window: booking's sweeper will expire
    #: them and offer the time to the next patient.
    expired_offers: int = 0

    def quiet(self) -> bool:
        return not (
            self.outbox
            or self.lag
            or self.due
            or self.sending
            or self.unknown
            or self.expired_holds
            or self.expired_offers
        )

    def __str__(self) -> str:
        return (
            f"{self.outbox} outbox rows unpublished, consumer lag {self.lag}, {self.due} SMS "
            f"due, {self.sending} sending, {self.unknown} in doubt, "
            f"{self.expired_holds} holds and {self.expired_offers} offers past their time, "
            f"{self.callbacks} SMS awaiting their delivery callback"
        )


class Observer:
    """Connections to the databases, the broker and the sandbox of one running stack."""

    def __init__(self, env: Mapping[str, str], sandbox_url: str) -> None:
        self._env = dict(env)
        self._prefix = env.get("KAFKA_TOPIC_PREFIX", "")
        self._suffix = env.get("KAFKA_GROUP_SUFFIX", "")
        self.engines: dict[str, AsyncEngine] = {
            s: create_async_engine(database_url(env, s), pool_pre_ping=True, pool_size=2)
            for s in SERVICES
        }
        self._sandbox = httpx.AsyncClient(base_url=sandbox_url, timeout=30)
        self._seen_sids: set[str] = set()
        self._admin: AIOKafkaAdminClient | None = None
        self._ends: AIOKafkaConsumer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._reader_positions: dict[TopicPartition, int] = {}
        self._described: dict[tuple[str, ...], list[TopicPartition]] = {}
        #: The highest consumer lag the last :meth:`quiesce` saw while it waited.
        self.peak_lag = 0
        #: Every invitation booking issued, by the link its SMS carries.
        self.invitations: dict[str, dict[str, Any]] = {}
        #: Every state each appointment was in, as booking announced it: (when, status,
        #: starts_at), in the order of the appointment's events.
        self.history: dict[str, list[tuple[datetime, str, datetime]]] = {}

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        await self.connect_broker()

    async def close(self) -> None:
        await self.disconnect_broker()
        await self._sandbox.aclose()
        for engine in self.engines.values():
            await engine.dispose()

    async def connect_broker(self) -> None:
        """(Re)open the broker clients: after a broker restart the old ones are useless."""
        await self.disconnect_broker()
        self._described = {}
        servers = self._env["KAFKA_BOOTSTRAP_SERVERS"]
        self._admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=10000)
        self._ends = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
        self._reader = AIOKafkaConsumer(
            bootstrap_servers=servers, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await self._admin.start()
        await self._ends.start()
        await self._reader.start()
        self._reader_started = False

    async def disconnect_broker(self) -> None:
        for client in (self._reader, self._ends):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
        self._admin = self._ends = self._reader = None

    def topic(self, name: str) -> str:
        return self._prefix + name

    # -- the broker -----------------------------------------------------------------

    async def _partitions(self, topics: tuple[str, ...]) -> list[TopicPartition]:
        cached = self._described.get(topics)
        if cached:
            return cached
        assert self._admin is not None
        described = await self._admin.describe_topics([self.topic(t) for t in topics])
        found = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            if not t.get("error_code")
            for p in t["partitions"]
        ]
        if len({tp.topic for tp in found}) == len(topics):
            self._described[topics] = found
        return found

    async def end_offsets(self, topics: tuple[str, ...] = TOPICS) -> dict[TopicPartition, int]:
        assert self._ends is not None
        partitions = await self._partitions(topics)
        if not partitions:
            return {}
        ends: dict[TopicPartition, int] = await self._ends.end_offsets(partitions)
        return ends

    async def lag(self, ends: dict[TopicPartition, int] | None = None) -> dict[str, int]:
        """Per consumer group: events on its topics it has not committed."""
        assert self._admin is not None
        if ends is None:
            ends = await self.end_offsets()
        lags = {}
        for service, topics in CONSUMES.items():
            committed = await self._admin.list_consumer_group_offsets(service + self._suffix)
            wanted = {self.topic(t) for t in topics}
            total = 0
            for tp, end in ends.items():
                if tp.topic not in wanted:
                    continue
                position = committed.get(tp)
                offset = position.offset if position is not None and position.offset >= 0 else 0
                total += max(end - offset, 0)
            lags[service] = total
        return lags

    async def dead_letters(self) -> dict[str, int]:
        """Records on each ``<topic>.dlq`` (a topic not created yet holds none)."""
        assert self._admin is not None
        existing = set(await self._admin.list_topics())
        counts = {}
        for name in TOPICS:
            dlq = self.topic(name + ".dlq")
            if dlq not in existing:
                counts[name + ".dlq"] = 0
                continue
            ends = await self.end_offsets((name + ".dlq",))
            counts[name + ".dlq"] = sum(ends.values())
        return counts

    async def read_invitations(self) -> None:
        """Take in what booking announced since the last read (booking.events): the
        invitations it issued and every state of every appointment."""
        assert self._reader is not None
        if not self._reader_started:
            partitions = await self._partitions(("booking.events",))
            if not partitions:
                return
            self._reader.assign(partitions)
            for tp in partitions:
                self._reader.seek(tp, self._reader_positions.get(tp, 0))
            self._reader_started = True
        ends = await self._reader.end_offsets(list(self._reader.assignment()))

        async def behind() -> bool:
            assert self._reader is not None
            for tp, end in ends.items():
                if await self._reader.position(tp) < end:
                    return True
            return False

        async with asyncio.timeout(30):
            while await behind():
                batches = await self._reader.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        headers = {k: v.decode() for k, v in record.headers}
                        kind = headers.get("ce_type", "")
                        if kind == INVITATION:
                            payload = json.loads(record.value or b"{}")
                            payload["_time"] = headers.get("ce_time")
                            self.invitations[payload["link_url"]] = payload
                        elif kind.startswith(APPOINTMENT_EVENTS):
                            payload = json.loads(record.value or b"{}")
                            self.history.setdefault(payload["appointment_id"], []).append(
                                (
                                    datetime.fromisoformat(headers["ce_time"]),
                                    payload["status"],
                                    datetime.fromisoformat(payload["starts_at"]),
                                )
                            )
                        self._reader_positions[tp] = record.offset + 1

    # -- the databases ----------------------------------------------------------------

    async def rows(self, service: str, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.engines[service].connect() as connection:
            result = await connection.execute(sa.text(sql), params)
            return [dict(row) for row in result.mappings()]

    async def scalar(self, service: str, sql: str, **params: Any) -> Any:
        async with self.engines[service].connect() as connection:
            return await connection.scalar(sa.text(sql), params)

    async def busy(self, now: datetime, ends: dict[TopicPartition, int] | None = None) -> Busy:
        """What is left to do, read in the order work flows: the consumers' committed
        offsets first (a consumer commits its effect, the messages it plans and the events
        it stages, before its offset), then what will stage events (SMS due, being sent or
        awaiting their delivery callback, holds running out), then the outboxes. Read in
        another order, work finishing between two reads could slip through both."""
        lag = sum((await self.lag(ends)).values())
        [counts] = await self.rows(
            "notify",
            "SELECT count(*) FILTER (WHERE m.status = 'pending' AND m.due_at <= :now"
            "   AND p.id IS NOT NULL) AS due,"
            " count(*) FILTER (WHERE m.status = 'sending') AS sending,"
            " count(*) FILTER (WHERE m.status = 'unknown') AS unknown,"
            " count(*) FILTER (WHERE m.status IN ('queued', 'sent')) AS callbacks"
            " FROM message m LEFT JOIN patient p ON p.id = m.patient_id"
            " WHERE m.status IN ('pending', 'sending', 'unknown', 'queued', 'sent')",
            now=now,
        )
        holds = await self.scalar(
            "booking",
            "SELECT count(*) FROM appointment WHERE status = 'held' AND hold_expires_at <= :now",
            now=now,
        )
        offers = await self.scalar(
            "booking",
            "SELECT count(*) FROM slot_offer WHERE status = 'live' AND claim_by <= :now",
            now=now,
        )
        outbox = 0
        for service in SERVICES:
            outbox += int(
                await self.scalar(service, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
            )
        return Busy(
            outbox,
            lag,
            counts["due"],
            counts["sending"],
            counts["unknown"],
            int(holds),
            counts["callbacks"],
            int(offers),
        )

    async def quiesce(self, now: datetime, *, within: float = 180.0) -> Busy | None:
        """Wait until the system is quiet at ``now``: nothing to publish, nothing to consume,
        nothing due, no event produced while that was read. None when it is, else what was
        still busy when ``within`` seconds ran out."""
        deadline = time.monotonic() + within
        calm = 0
        last: Busy | None = None
        self.peak_lag = 0
        while True:
            try:
                ends = await self.end_offsets()
                last = await self.busy(now, ends)
                self.peak_lag = max(self.peak_lag, last.lag)
                calm = calm + 1 if last.quiet() and ends == await self.end_offsets() else 0
            except Exception:  # a restarting broker or database: ask again
                calm = 0
            # Twice, 100 ms apart: a dispatcher records its outcomes every 50 ms, and one
            # recorded after the SMS's delivery callback (which it races) stages its event
            # without any trace in the tables meanwhile.
            if calm >= 2:
                return None
            if time.monotonic() > deadline:
                return last or Busy(-1, -1, -1, -1, -1, -1)
            await asyncio.sleep(0.1)

    async def next_due(self, after: datetime) -> datetime | None:
        """When notify next has a message due, or booking a hold or an offer running out."""
        due = await self.scalar(
            "notify",
            "SELECT min(m.due_at) FROM message m JOIN patient p ON p.id = m.patient_id"
            " WHERE m.status = 'pending' AND m.due_at > :after",
            after=after,
        )
        hold = await self.scalar(
            "booking",
            "SELECT min(hold_expires_at) FROM appointment WHERE status = 'held'"
            " AND hold_expires_at > :after",
            after=after,
        )
        claim_by = await self.scalar(
            "booking",
            "SELECT min(claim_by) FROM slot_offer WHERE status = 'live' AND claim_by > :after",
            after=after,
        )
        found = [t for t in (due, hold, claim_by) if t is not None]
        return min(found) if found else None

    # -- the sandbox --------------------------------------------------------------------

    async def sandbox_messages(self) -> list[dict[str, Any]]:
        """Every SMS the sandbox accepted, oldest first (Twilio's resources)."""
        response = await self._sandbox.get("/_sandbox/messages")
        response.raise_for_status()
        return [m["resource"] for m in response.json()["messages"]]

    async def new_sms(self) -> list[dict[str, Any]]:
        """The SMS the sandbox accepted since the last call, oldest first."""
        fresh = [m for m in await self.sandbox_messages() if m["sid"] not in self._seen_sids]
        self._seen_sids.update(m["sid"] for m in fresh)
        return fresh

    # -- what the invariants read -------------------------------------------------------

    async def snapshot(self, now: datetime) -> Snapshot:
        snap = Snapshot(at=now)
        for row in await self.rows("booking", "SELECT id, status FROM booking_request"):
            snap.requests[str(row["id"])] = row["status"]
        for row in await self.rows("booking", "SELECT id, status, starts_at FROM appointment"):
            snap.appointments[str(row["id"])] = (row["status"], row["starts_at"])
        for row in await self.rows(
            "booking", "SELECT id, status, claim_by, closed_at FROM slot_offer"
        ):
            snap.offers[str(row["id"])] = OfferState(
                row["status"], row["claim_by"], row["closed_at"]
            )
        for row in await self.rows(
            "plans",
            "SELECT id, phone, language, time_zone, sms_consent, erased_at, needle_sensitive"
            " FROM patient",
        ):
            snap.patients[str(row["id"])] = PatientState(
                row["phone"],
                row["language"],
                row["time_zone"],
                row["sms_consent"],
                row["erased_at"] is not None,
                row["needle_sensitive"],
            )
        for row in await self.rows(
            "notify", "SELECT id FROM patient WHERE opted_out_at IS NOT NULL"
        ):
            snap.opted_out.add(str(row["id"]))
        return snap

    async def messages(self) -> list[dict[str, Any]]:
        return _ids(await self.rows("notify", "SELECT * FROM message ORDER BY created_at, id"))

    async def world(self, now: datetime) -> World:
        plans_patients = _ids(await self.rows("plans", "SELECT * FROM patient"))
        protocols = _by_id(await self.rows("plans", "SELECT * FROM protocol"))
        plans = _ids(await self.rows("plans", "SELECT * FROM plan"))
        sessions = _ids(await self.rows("plans", "SELECT * FROM plan_session"))
        booking_patients = _by_id(await self.rows("booking", "SELECT * FROM patient"))
        requests = _ids(await self.rows("booking", "SELECT * FROM booking_request"))
        appointments = _ids(
            await self.rows(
                "booking",
                "SELECT a.*, l.time_zone AS location_time_zone FROM appointment a"
                " JOIN location l ON l.id = a.location_id",
            )
        )
        outbox_left = {
            s: int(await self.scalar(s, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            for s in SERVICES
        }
        return World(
            at=now,
            plans_patients=plans_patients,
            protocols=protocols,
            plans=plans,
            sessions=sessions,
            booking_patients=booking_patients,
            requests=requests,
            appointments=appointments,
            locations=_by_id(await self.rows("booking", "SELECT * FROM location")),
            practitioners=_by_id(await self.rows("booking", "SELECT * FROM practitioner")),
            rooms=_by_id(await self.rows("booking", "SELECT * FROM room")),
            hours=_ids(await self.rows("booking", "SELECT * FROM working_hours")),
            time_off=_ids(await self.rows("booking", "SELECT * FROM time_off")),
            notify_patients=_by_id(await self.rows("notify", "SELECT * FROM patient")),
            notify_appointments=_by_id(await self.rows("notify", "SELECT * FROM appointment")),
            messages=await self.messages(),
            outbox_left=outbox_left,
            lag=await self.lag(),
            dead_letters=await self.dead_letters(),
        )


def _ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """UUID columns as text: ids compare across databases and print as they are."""
    for row in rows:
        for key, value in row.items():
            if key == "id" or key.endswith("_id"):
                row[key] = None if value is None else str(value)
    return rows


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in _ids(rows)}


def local_date(instant: datetime, zone: Any) -> date:
    return instant.astimezone(zone).date()
