"""The step loop: weeks of clinic life on the pinned clock, checked after every step.

Each step moves the stack's clock to the next instant something happens (an action the
scenario planned, an SMS due in notify, a hold running out, a session starting; never
more than ``max_step`` ahead), lets the system settle, then acts as the staff and the
patients would at that instant, lets it settle again and checks every invariant. Every
SMS the sandbox received in a phase is judged against the quiet states around it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from devstack.stack import Stack
from sim import scenario
from sim.api import Answer, Api
from sim.faults import KINDS, Faults, Infrastructure
from sim.invariants import LINK, Ledger, Policy, Sent, Violation, check_sms, check_world
from sim.observe import Observer, Snapshot, World

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Config:
    seed: int = 1
    weeks: float = 12.0
    #: A Monday morning in Paris (the pinned clock's first instant).
    start: datetime = datetime(2026, 6, 15, 7, 0, tzinfo=PARIS)
    patients_per_week: float = 6.0
    #: Booking modes, switched in turn every ``mode_weeks`` (booking restarts).
    modes: tuple[str, ...] = ("invite", "auto")
    mode_weeks: float = 2.0
    faults: bool = False
    #: One fault every this many simulated days (kinds in turn), when ``faults``.
    fault_every_days: float = 3.5
    #: Steps are at least this far apart (SMS due meanwhile go at the step, a little late).
    min_step: timedelta = timedelta(minutes=10)
    max_step: timedelta = timedelta(hours=6)
    #: Real seconds the system may take to settle after a step before that is a violation.
    settle_timeout: float = 180.0
    #: Workers in processes of their own, as in production (default: with faults).
    workers_apart: bool | None = None
    buffer_before: timedelta = timedelta(minutes=5)
    buffer_after: timedelta = timedelta(minutes=10)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(weeks=self.weeks)


@dataclass
class Person:
    """A patient as the simulator knows them: their shape, ids and what they hold."""

    shape: scenario.PatientShape
    id: str
    plan_ids: list[str] = field(default_factory=list)
    #: The last self-booking link their SMS carried (its token).
    token: str | None = None
    stopped: bool = False
    replied_c: set[str] = field(default_factory=set)
    moved: bool = False


@dataclass(order=True)
class Planned:
    at: datetime
    seq: int
    what: str = field(compare=False)
    args: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass
class StepRecord:
    at: str
    lag: int
    settle_seconds: float
    sms: int
    actions: int
    violations: int


class Simulation:
    """One run: the stack, its observer, the scenario's randomness and what happened."""

    def __init__(
        self, config: Config, stack: Stack, infra: Infrastructure | None, observer: Observer
    ) -> None:
        self.config, self.stack, self.observer = config, stack, observer
        self.rng = random.Random(config.seed)  # noqa: S311 (a simulation, not a secret)
        self.clock = stack.clock
        self.api = Api(stack.urls, stack.env["JWT_SECRET"], self.clock)
        fault_rng = random.Random(config.seed + 1)  # noqa: S311
        self.faults = Faults(stack, infra, observer, fault_rng) if infra else None
        self.agenda: list[Planned] = []
        self._seq = itertools.count()
        self.people: dict[str, Person] = {}
        self.by_phone: dict[str, Person] = {}
        self.phones: set[str] = set()
        self.clinic: dict[str, Any] = {}
        self.protocols: dict[str, dict[str, Any]] = {}
        self.ledger = Ledger()
        self.policy = Policy()
        self.violations: list[Violation] = []
        self.seen_violations: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
        self.recurrences: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[int, str]] = {}
        self.counts: Counter[str] = Counter()
        self.steps: list[StepRecord] = []
        self.handled_appointments: set[str] = set()
        self.mode = config.modes[0]
        self.log: Callable[[str], None] = print
        self._step_actions = 0
        self.world: World | None = None
        self.pending_faults: list[str] = []

    # -- the agenda ---------------------------------------------------------------------

    def plan(self, at: datetime, what: str, **args: Any) -> None:
        heapq.heappush(self.agenda, Planned(at.astimezone(UTC), next(self._seq), what, args))

    def now(self) -> datetime:
        return self.clock.now()

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> list[Violation]:
        config = self.config
        self.clock.set(config.start)
        await self.observer.start()
        try:
            await self._set_up()
            previous = await self.observer.snapshot(self.now())
            while True:
                now = self.now()
                if now >= config.end:
                    break
                at = await self._next_instant(now)
                previous = await self._step(at, previous)
            self.log(f"[sim] {self.now():%Y-%m-%d %H:%M} UTC: the span is over; final check")
            await self._settle("final")
            await self._check_state()
        finally:
            await self.api.close()
            await self.observer.close()
        return self.violations

    async def _next_instant(self, now: datetime) -> datetime:
        candidates = [now + self.config.max_step, self.config.end]
        if self.agenda:
            candidates.append(self.agenda[0].at)
        due = await self.observer.next_due(now)
        if due is not None:
            candidates.append(due)
        starts = await self.observer.scalar(
            "booking",
            "SELECT min(starts_at) FROM appointment WHERE status IN ('booked', 'confirmed')"
            " AND starts_at > :now",
            now=now,
        )
        if starts is not None:
            candidates.append(starts)
        return max(min(candidates), now + self.config.min_step)

    async def _step(self, at: datetime, previous: Snapshot) -> Snapshot:
        self.clock.set(at)
        self._step_actions = 0
        started = time.monotonic()
        lag = await self._settle("time")
        sent = await self._take_sms()
        middle = await self.observer.snapshot(at)
        self._judge(sent, previous, middle)
        due: list[Planned] = []
        while self.agenda and self.agenda[0].at <= at:
            item = heapq.heappop(self.agenda)
            if item.what == "fault":
                self.pending_faults.append(item.args["kind"])
            else:
                due.append(item)
        # A fault hits a step where work is in flight: one with actions of the scenario.
        fault = None
        if self.pending_faults and due and self.faults is not None:
            fault = self.pending_faults.pop(0)
            await self.faults.begin(fault, at)
        for item in due:
            await self._do(item)
        await self._day_of(at)
        if fault is not None and self.faults is not None:
            injected = await self.faults.end()
            if injected is not None:
                self.counts["faults"] += 1
                self.log(
                    f"[sim] {at:%Y-%m-%d %H:%M} fault: {injected.kind} {injected.target} "
                    f"({injected.seconds:.1f} s; {'; '.join(injected.notes)})"
                )
        after = middle
        more: list[Sent] = []
        if self._step_actions or fault is not None:
            lag = max(lag, await self._settle("actions"))
            more = await self._take_sms()
            after = await self.observer.snapshot(at)
            self._judge(more, middle, after)
        await self._check_state()
        for sms in [*sent, *more]:
            self._read(sms)
        self.steps.append(
            StepRecord(
                at.isoformat(),
                lag,
                time.monotonic() - started,
                len(sent) + len(more),
                self._step_actions,
                len(self.violations),
            )
        )
        if len(self.steps) % 50 == 0:
            self.log(
                f"[sim] {at:%Y-%m-%d %H:%M} UTC step {len(self.steps)}: "
                f"{self.counts['patients']} patients, {len(self.ledger.sent)} SMS, "
                f"{len(self.violations)} violations"
            )
        return after

    async def _settle(self, phase: str) -> int:
        """Wait for quiet; what was still busy after the timeout is a violation. Returns
        the highest consumer lag seen meanwhile."""
        busy = await self.observer.quiesce(self.now(), within=self.config.settle_timeout)
        if busy is not None:
            self._violate(
                Violation(
                    "infra.settle",
                    f"not quiet {self.config.settle_timeout:.0f} s after the {phase} phase: {busy}",
                    {},
                    self.now().isoformat(),
                )
            )
        return self.observer.peak_lag

    async def _take_sms(self) -> list[Sent]:
        fresh = await self.observer.new_sms()
        if not fresh:
            return []
        await self.observer.read_invitations()
        rows = {m["twilio_sid"]: m for m in await self.observer.messages() if m["twilio_sid"]}
        at = self.now()
        sent = []
        for resource in fresh:
            link = LINK.search(resource["body"])
            invitation = self.observer.invitations.get(link.group(0)) if link else None
            sent.append(
                Sent(
                    resource["sid"],
                    resource["to"],
                    resource["body"],
                    at,
                    rows.get(resource["sid"]),
                    invitation,
                )
            )
        return sent

    def _judge(self, sent: list[Sent], before: Snapshot, after: Snapshot) -> None:
        for sms in sent:
            found = check_sms(sms, before, after, self.ledger, self.policy, self.observer.history)
            for violation in found:
                self._violate(violation)
            self.ledger.sent.append(sms)
            self.counts[f"sms.{sms.kind}"] += 1

    async def _check_state(self) -> None:
        world = self.world = await self.observer.world(self.now())
        sids = {s.sid for s in self.ledger.sent}
        for violation in check_world(
            world,
            buffer_before=self.config.buffer_before,
            buffer_after=self.config.buffer_after,
            sandbox_sids=sids,
        ):
            self._violate(violation)

    def _violate(self, violation: Violation) -> None:
        """Record a violation once (a state that stays wrong is found at every step after:
        :attr:`recurrences` counts those, and when it was last seen)."""
        key = (violation.invariant, violation.detail, tuple(sorted(violation.ids.items())))
        if key in self.seen_violations:
            count, _ = self.recurrences.get(key, (0, ""))
            self.recurrences[key] = (count + 1, self.now().isoformat())
            return
        self.seen_violations.add(key)
        self.violations.append(violation)
        self.log(f"[sim] VIOLATION {violation}")

    # -- setting up -------------------------------------------------------------------------

    async def _set_up(self) -> None:
        config = self.config
        days = (config.end.date() - config.start.date()).days
        shape = scenario.clinic_shape(self.rng, config.start.date(), days)
        await self._build_clinic(shape)
        self.policy = Policy.of(await self.api.policy())
        for p in (await self._ok(self.api.staff("GET", "plans", "/v1/protocols"))).body:
            self.protocols[p["key"]] = p
        day = config.start.date()
        while day < config.end.date():
            for arrival in scenario.arrivals(self.rng, day, config.patients_per_week, PARIS):
                if config.start <= arrival < config.end:
                    self.plan(arrival, "arrive")
            if day.weekday() < 5:
                for hour in (9, 15):
                    self.plan(
                        datetime.combine(day, datetime.min.time(), PARIS).replace(hour=hour), "desk"
                    )
            day += timedelta(days=1)
        if config.faults and self.faults is not None:
            step = timedelta(days=config.fault_every_days)
            at, n = config.start + step / 2, 0
            while at < config.end - timedelta(hours=1):
                self.plan(at, "fault", kind=KINDS[n % len(KINDS)])
                at, n = at + step, n + 1
        if len(config.modes) > 1:
            at, n = config.start + timedelta(weeks=config.mode_weeks), 1
            while at < config.end:
                self.plan(at, "mode", mode=config.modes[n % len(config.modes)])
                at, n = at + timedelta(weeks=config.mode_weeks), n + 1
        await self._settle("set-up")

    async def _build_clinic(self, shape: scenario.ClinicShape) -> None:
        self.clinic = {"locations": [], "practitioners": [], "rooms": []}
        ids: dict[tuple[int, str, int], str] = {}
        for li, location in enumerate(shape.locations):
            made = await self._ok(
                self.api.staff(
                    "POST",
                    "booking",
                    "/v1/locations",
                    json={
                        "name": location.name,
                        "time_zone": location.time_zone,
                        "phone": location.phone,
                    },
                )
            )
            location_id = made.body["id"]
            ids[li, "location", 0] = location_id
            self.clinic["locations"].append({"id": location_id, "time_zone": location.time_zone})
            await self._ok(
                self.api.staff(
                    "PUT",
                    "booking",
                    f"/v1/locations/{location_id}/weekly-hours",
                    json=[h.json() for h in location.hours],
                )
            )
            for pi, practitioner in enumerate(location.practitioners):
                made = await self._ok(
                    self.api.staff(
                        "POST",
                        "booking",
                        "/v1/practitioners",
                        json={
                            "location_id": location_id,
                            "full_name": practitioner.name,
                            "indications": practitioner.indications,
                        },
                    )
                )
                ids[li, "practitioner", pi] = made.body["id"]
                self.clinic["practitioners"].append(made.body)
                if practitioner.hours is not None:
                    await self._ok(
                        self.api.staff(
                            "PUT",
                            "booking",
                            f"/v1/practitioners/{made.body['id']}/weekly-hours",
                            json=[h.json() for h in practitioner.hours],
                        )
                    )
            for ri, room in enumerate(location.rooms):
                made = await self._ok(
                    self.api.staff(
                        "POST",
                        "booking",
                        "/v1/rooms",
                        json={
                            "location_id": location_id,
                            "name": room.name,
                        },
                    )
                )
                ids[li, "room", ri] = made.body["id"]
                self.clinic["rooms"].append(made.body)
                if room.hours is not None:
                    await self._ok(
                        self.api.staff(
                            "PUT",
                            "booking",
                            f"/v1/rooms/{made.body['id']}/weekly-hours",
                            json=[h.json() for h in room.hours],
                        )
                    )
        for off in shape.time_off:
            zone = ZoneInfo(shape.locations[off.location].time_zone)
            starts = datetime.combine(off.starts_on, datetime.min.time(), zone)
            await self._ok(
                self.api.staff(
                    "POST",
                    "booking",
                    "/v1/time-off",
                    json={
                        "resource_kind": off.kind,
                        "resource_id": ids[off.location, off.kind, off.index],
                        "starts_at": starts.isoformat(),
                        "ends_at": (starts + timedelta(days=off.days)).isoformat(),
                        "reason": off.reason,
                    },
                )
            )
            self.counts["time_off"] += 1

    async def _ok(self, call: Awaitable[Answer]) -> Answer:
        answer = await call
        if not answer.ok:
            raise RuntimeError(f"set-up call refused: {answer.status} {answer.body}")
        return answer

    # -- actions ------------------------------------------------------------------------------

    async def _do(self, item: Planned) -> None:
        handler = getattr(self, f"_act_{item.what}")
        self._step_actions += 1
        self.counts[f"action.{item.what}"] += 1
        try:
            await handler(**item.args)
        except RuntimeError as error:  # a service unavailable past the client's patience
            self._violate(
                Violation("api.available", f"{item.what}: {error}", {}, self.now().isoformat())
            )

    def _refused(self, what: str, answer: Answer) -> None:
        """A refusal a real client could get (a time taken meanwhile, a rule): counted;
        a 500 is a defect."""
        self.counts[f"refused.{what}"] += 1
        if answer.status >= 500:
            self._violate(
                Violation(
                    "api.error",
                    f"{what}: {answer.status} {answer.body}",
                    {},
                    self.now().isoformat(),
                )
            )

    async def _act_arrive(self) -> None:
        """A new patient at the desk: registered, a plan drafted, acknowledged, activated."""
        n = self.counts["patients"] + 1
        shape = scenario.new_patient(self.rng, n, self.phones)
        made = await self.api.staff(
            "POST", "plans", "/v1/patients", json=shape.json(), idempotent=True
        )
        if not made.ok:
            self._refused("register", made)
            return
        person = Person(shape, made.body["id"])
        self.people[person.id] = person
        self.by_phone[shape.phone] = person
        self.counts["patients"] += 1
        await self._new_plan(person)
        now = self.now()
        if shape.habits.books_at_desk and person.plan_ids and not shape.whole_course_by_staff:
            self.plan(now + timedelta(minutes=20), "desk_book", plan=person.plan_ids[-1])
        if shape.habits.stops:
            stop_at = now + timedelta(days=self.rng.uniform(1, 21))
            self.plan(stop_at, "text", patient=person.id, body=self.rng.choice(["STOP", "stop"]))
            if shape.habits.starts_again:
                self.plan(
                    stop_at + timedelta(days=self.rng.uniform(2, 10)),
                    "text",
                    patient=person.id,
                    body="START",
                )

    async def _new_plan(self, person: Person) -> None:
        shape = person.shape
        protocol = self.protocols[shape.protocol_key]
        area = protocol["areas"][int(shape.area_choice * len(protocol["areas"]))]
        start = self.now().astimezone(PARIS).date() + timedelta(days=shape.start_in_days)
        body: dict[str, Any] = {
            "patient_id": person.id,
            "protocol_id": protocol["id"],
            "areas": [area],
            "start_date": start.isoformat(),
        }
        if shape.prefers_practitioner:
            fits = [
                p
                for p in self.clinic["practitioners"]
                if protocol["indication"] in p["indications"]
            ]
            if fits:
                body["preferred_practitioner_id"] = self.rng.choice(fits)["id"]
        made = await self.api.staff("POST", "plans", "/v1/plans", json=body, idempotent=True)
        if not made.ok:
            self._refused("plan", made)
            return
        plan_id = made.body["id"]
        if shape.allergies:
            ack = await self.api.staff(
                "POST",
                "plans",
                f"/v1/plans/{plan_id}/acknowledgement",
                json={"allergies": shape.allergies, "medications": []},
            )
            if not ack.ok:
                self._refused("acknowledge", ack)
        activated = await self.api.staff("POST", "plans", f"/v1/plans/{plan_id}/activate")
        if not activated.ok:
            self._refused("activate", activated)
            return
        person.plan_ids.append(plan_id)
        self.counts["plans"] += 1
        if shape.whole_course_by_staff:
            self.plan(self.now() + timedelta(minutes=30), "course", plan=plan_id)

    async def _act_course(self, plan: str) -> None:
        """Staff book every open session of the course at once, each near its target."""
        requests = await self.api.staff(
            "GET", "booking", "/v1/booking-requests", params={"plan_id": plan, "status": "open"}
        )
        if not requests.ok or not requests.body:
            return
        sessions = []
        for request in sorted(requests.body, key=lambda r: r["session_number"]):
            slots = await self._staff_slots(request)
            on_target = [s for s in slots if s["local_starts_at"][:10] == request["target_date"]]
            if not on_target:
                self.counts["refused.course_no_slot"] += 1
                return
            slot = on_target[0]
            sessions.append({"booking_request_id": request["id"], **_choice(slot)})
        answer = await self.api.staff(
            "POST",
            "booking",
            f"/v1/plans/{plan}/course",
            json={"sessions": sessions},
            idempotent=True,
        )
        if answer.ok:
            self.counts["courses_booked"] += 1
        else:
            self._refused("course", answer)

    async def _act_desk(self) -> None:
        """The front desk's round: the worklist (sessions closing unbooked) booked by staff,
        a few appointments moved, plans paused, resumed, cancelled, a record changed."""
        worklist = await self.api.staff(
            "GET", "plans", "/v1/worklist", params={"within_days": 3, "limit": 200}
        )
        for item in worklist.body if worklist.ok else []:
            await self._staff_book(item["plan_id"], item["session_number"])
        upcoming = await self.api.staff(
            "GET",
            "booking",
            "/v1/appointments",
            params={
                "status": "booked",
                "starts_from": (self.now() + timedelta(days=2)).isoformat(),
                "limit": 500,
            },
        )
        for appointment in upcoming.body if upcoming.ok else []:
            if self.rng.random() < 0.03:
                await self._staff_move(appointment)
        plans = await self.api.staff(
            "GET", "plans", "/v1/plans", params={"status": "active", "limit": 200}
        )
        for plan in plans.body if plans.ok else []:
            roll = self.rng.random()
            if roll < 0.012:
                answer = await self.api.staff("POST", "plans", f"/v1/plans/{plan['id']}/pause")
                if answer.ok:
                    self.counts["plans_paused"] += 1
                    self.plan(
                        self.now() + timedelta(days=self.rng.uniform(4, 14)),
                        "resume",
                        plan=plan["id"],
                    )
                else:
                    self._refused("pause", answer)
            elif roll < 0.018:
                answer = await self.api.staff(
                    "POST",
                    "plans",
                    f"/v1/plans/{plan['id']}/cancel",
                    json={"reason": "patient moved away"},
                )
                self.counts["plans_cancelled" if answer.ok else "refused.cancel_plan"] += 1
        for person in list(self.people.values()):
            roll = self.rng.random()
            if roll < 0.002:
                answer = await self.api.staff("DELETE", "plans", f"/v1/patients/{person.id}")
                if answer.ok:
                    self.counts["patients_erased"] += 1
                    self.people.pop(person.id)
                else:
                    self._refused("erase", answer)
            elif roll < 0.008:
                change = self.rng.choice(
                    [
                        {"language": self.rng.choice(["fr", "en"])},
                        {
                            "time_zone": self.rng.choice(
                                ["Europe/Paris", "Europe/London", "America/New_York"]
                            )
                        },
                        {"needle_sensitive": True},
                    ]
                )
                answer = await self.api.staff(
                    "PATCH", "plans", f"/v1/patients/{person.id}", json=change
                )
                if answer.status == 410:
                    continue
                self.counts["patients_changed" if answer.ok else "refused.change"] += 1

    async def _act_desk_book(self, plan: str) -> None:
        """Staff book the first open session of a new patient's plan at the desk."""
        found = await self.api.staff(
            "GET", "booking", "/v1/booking-requests", params={"plan_id": plan, "status": "open"}
        )
        open_ = sorted(found.body or [], key=lambda r: r["session_number"]) if found.ok else []
        if open_:
            await self._staff_book(plan, open_[0]["session_number"], preference="any")

    async def _act_resume(self, plan: str) -> None:
        answer = await self.api.staff("POST", "plans", f"/v1/plans/{plan}/resume", json={})
        self.counts["plans_resumed" if answer.ok else "refused.resume"] += 1

    async def _staff_slots(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Free times as the desk looks them up: one practitioner's whole window (the
        preferred one, else one who treats the indication), else everyone's."""
        fits = [
            p["id"]
            for p in self.clinic["practitioners"]
            if request["indication"] in p["indications"]
        ]
        chosen = request["preferred_practitioner_id"] or (self.rng.choice(fits) if fits else None)
        path = f"/v1/booking-requests/{request['id']}/slots"
        if chosen is not None:
            slots = await self.api.staff(
                "GET", "booking", path, params={"practitioner_id": chosen, "limit": 500}
            )
            if slots.ok and slots.body:
                return list(slots.body)
        slots = await self.api.staff("GET", "booking", path, params={"limit": 500})
        return list(slots.body) if slots.ok and slots.body else []

    async def _staff_book(
        self, plan_id: str, session_number: int, preference: str = "early"
    ) -> None:
        found = await self.api.staff(
            "GET", "booking", "/v1/booking-requests", params={"plan_id": plan_id}
        )
        request = next(
            (
                r
                for r in found.body or []
                if r["session_number"] == session_number and r["status"] == "open"
            ),
            None,
        )
        if request is None:
            return
        slots = await self._staff_slots(request)
        if not slots:
            self.counts["refused.no_slot"] += 1
            return
        slot = self._pick(slots, preference)
        answer = await self.api.staff(
            "POST",
            "booking",
            "/v1/appointments",
            json={"booking_request_id": request["id"], **_choice(slot)},
            idempotent=True,
        )
        self.counts["booked_by_staff" if answer.ok else "refused.staff_book"] += 1
        if not answer.ok:
            self._refused("staff_book", answer)

    async def _staff_move(self, appointment: dict[str, Any]) -> None:
        request_id = appointment["booking_request_id"]
        if request_id is None:
            return
        request = await self.api.staff(
            "GET",
            "booking",
            "/v1/booking-requests",
            params={"patient_id": appointment["patient_id"]},
        )
        mine = [r for r in request.body or [] if r["id"] == request_id]
        if not mine:
            return
        slots = await self._staff_slots(mine[0])
        options = [s for s in slots if s["starts_at"] != appointment["starts_at"]]
        if not options:
            return
        answer = await self.api.staff(
            "POST",
            "booking",
            f"/v1/appointments/{appointment['id']}/reschedule",
            json=_choice(self._pick(options, "any")),
        )
        self.counts["moved_by_staff" if answer.ok else "refused.staff_move"] += 1
        if not answer.ok:
            self._refused("staff_move", answer)

    async def _day_of(self, at: datetime) -> None:
        """Sessions whose time has come: checked in and completed, or marked no-show."""
        for status in ("booked", "confirmed"):
            due = await self.api.staff(
                "GET",
                "booking",
                "/v1/appointments",
                params={
                    "status": status,
                    "starts_before": (at + timedelta(seconds=1)).isoformat(),
                    "limit": 500,
                },
            )
            for appointment in due.body if due.ok else []:
                if appointment["id"] in self.handled_appointments:
                    continue
                self.handled_appointments.add(appointment["id"])
                self._step_actions += 1
                person = self.people.get(appointment["patient_id"])
                no_show = person is not None and self.rng.random() < person.shape.habits.no_show
                path = f"/v1/appointments/{appointment['id']}"
                if no_show:
                    answer = await self.api.staff("POST", "booking", f"{path}/no-show", json={})
                    self.counts["no_shows" if answer.ok else "refused.no_show"] += 1
                    continue
                checked = await self.api.staff("POST", "booking", f"{path}/check-in", json={})
                done = await self.api.staff("POST", "booking", f"{path}/complete", json={})
                if checked.ok and done.ok:
                    self.counts["completed"] += 1
                    habits = person.shape.habits if person else None
                    if person and habits and habits.self_books and person.token:
                        delay = timedelta(
                            hours=habits.booking_delay_hours * self.rng.uniform(0.5, 1.5)
                        )
                        self.plan(at + delay, "self_book", patient=person.id, token=person.token)
                else:
                    self._refused("complete", done if checked.ok else checked)

    # -- patients --------------------------------------------------------------------------------

    def _read(self, sms: Sent) -> None:
        """The patient reads an SMS and decides what to do about it (later)."""
        person = self.by_phone.get(sms.to)
        if person is None or person.id not in self.people:
            return
        habits = person.shape.habits
        kind = sms.kind
        now = self.now()
        link = LINK.search(sms.body)
        if link:
            person.token = link.group(0).rsplit("/", 1)[1]
        if kind == "invitation" and habits.self_books and link:
            delay = timedelta(hours=habits.booking_delay_hours * self.rng.uniform(0.5, 1.5))
            self.plan(now + delay, "self_book", patient=person.id, token=person.token)
        elif kind == "confirmation":
            roll = self.rng.random()
            if roll < habits.replies_r:
                self.plan(
                    now + timedelta(minutes=self.rng.uniform(5, 240)),
                    "text",
                    patient=person.id,
                    body="R",
                )
            elif roll < habits.replies_r + habits.replies_c:
                self.plan(
                    now + timedelta(minutes=self.rng.uniform(5, 240)),
                    "text",
                    patient=person.id,
                    body=self.rng.choice(["C", "c", " C "]),
                )
            if person.token and not person.moved and self.rng.random() < habits.moves:
                person.moved = True
                self.plan(
                    now + timedelta(hours=self.rng.uniform(1, 72)),
                    "self_move",
                    patient=person.id,
                    token=person.token,
                )
            elif person.token and self.rng.random() < habits.cancels:
                self.plan(
                    now + timedelta(hours=self.rng.uniform(1, 72)),
                    "self_cancel",
                    patient=person.id,
                    token=person.token,
                )
        elif kind == "reminder_24h" and self.rng.random() < habits.replies_c / 2:
            self.plan(
                now + timedelta(minutes=self.rng.uniform(1, 120)),
                "text",
                patient=person.id,
                body="C",
            )
        if self.rng.random() < habits.replies_help:
            self.plan(
                now + timedelta(minutes=self.rng.uniform(1, 60)),
                "text",
                patient=person.id,
                body="HELP",
            )

    async def _act_text(self, patient: str, body: str) -> None:
        person = self.people.get(patient)
        if person is None:
            return
        answer = await self.api.text_clinic(person.shape.phone, body)
        if not answer.ok or answer.body.get("webhook_status") != 200:
            self._violate(
                Violation(
                    "api.webhook",
                    f"the clinic did not take the patient's {body!r}: "
                    f"{answer.status} {answer.body}",
                    {"patient": patient},
                    self.now().isoformat(),
                )
            )
            return
        self.counts[f"texted.{body.strip().upper()}"] += 1

    async def _act_self_book(self, patient: str, token: str) -> None:
        """The patient opens their link: confirms a held time (auto mode) or picks one."""
        if patient not in self.people:
            return
        person = self.people[patient]
        mine = await self.api.patient("GET", token, "/appointments")
        if mine.status in (401, 403, 404, 410):
            self.counts["links_expired"] += 1
            return
        held = [a for a in mine.body or [] if a["status"] == "held"]
        if held:
            appointment = held[0]
            answer = await self.api.patient(
                "POST", token, f"/appointments/{appointment['id']}/confirm"
            )
            self.counts["self_confirmed_hold" if answer.ok else "refused.self_confirm"] += 1
            if not answer.ok:
                self._refused("self_confirm", answer)
            return
        requests = await self.api.patient("GET", token, "/requests")
        open_ = (
            sorted(requests.body or [], key=lambda r: r["session_number"]) if requests.ok else []
        )
        if not open_:
            return
        request = open_[0]
        slots = await self.api.patient("GET", token, f"/requests/{request['id']}/slots")
        if not slots.ok or not slots.body:
            self.counts["refused.self_no_slot"] += 1
            return
        slot = self._pick(slots.body, person.shape.habits.day_preference)
        held_answer = await self.api.patient(
            "POST",
            token,
            "/holds",
            json={"booking_request_id": request["id"], **_choice(slot)},
            idempotent=True,
        )
        if not held_answer.ok:
            self._refused("self_hold", held_answer)
            return
        if self.rng.random() < person.shape.habits.abandons_hold:
            self.counts["holds_abandoned"] += 1
            return
        answer = await self.api.patient(
            "POST", token, f"/appointments/{held_answer.body['id']}/confirm"
        )
        self.counts["self_booked" if answer.ok else "refused.self_confirm"] += 1
        if not answer.ok:
            self._refused("self_confirm", answer)

    async def _mine_upcoming(self, token: str) -> list[dict[str, Any]]:
        mine = await self.api.patient("GET", token, "/appointments")
        if not mine.ok:
            return []
        cutoff = self.now() + timedelta(hours=25)
        return [
            a
            for a in mine.body or []
            if a["status"] in ("booked", "confirmed")
            and datetime.fromisoformat(a["starts_at"]) > cutoff
        ]

    async def _act_self_move(self, patient: str, token: str) -> None:
        upcoming = await self._mine_upcoming(token)
        if not upcoming:
            return
        appointment = upcoming[0]
        slots = await self.api.patient(
            "GET", token, f"/requests/{appointment['booking_request_id']}/slots"
        )
        options = [s for s in slots.body or [] if s["starts_at"] != appointment["starts_at"]]
        if not options:
            return
        answer = await self.api.patient(
            "POST",
            token,
            f"/appointments/{appointment['id']}/reschedule",
            json=_choice(self._pick(options, "any")),
        )
        self.counts["self_moved" if answer.ok else "refused.self_move"] += 1
        if not answer.ok:
            self._refused("self_move", answer)

    async def _act_self_cancel(self, patient: str, token: str) -> None:
        upcoming = await self._mine_upcoming(token)
        if not upcoming:
            return
        answer = await self.api.patient("POST", token, f"/appointments/{upcoming[0]['id']}/cancel")
        self.counts["self_cancelled" if answer.ok else "refused.self_cancel"] += 1
        if not answer.ok:
            self._refused("self_cancel", answer)
        elif self.rng.random() < 0.5:
            # Changed their mind: another time, from the same link, a few minutes later.
            self.plan(
                self.now() + timedelta(minutes=self.rng.uniform(2, 30)),
                "self_book",
                patient=patient,
                token=token,
            )

    async def _act_mode(self, mode: str) -> None:
        """The clinic switches booking mode: booking's processes restart with it."""
        self.stack.env["BOOKING_MODE"] = mode
        names = self.stack.processes_of("booking")
        await asyncio.to_thread(self.stack.stop, *names)
        await asyncio.to_thread(self.stack.start, *names)
        self.mode = mode
        self.counts["mode_switches"] += 1
        self.log(f"[sim] {self.now():%Y-%m-%d %H:%M} booking mode is now {mode}")

    def _pick(self, slots: list[dict[str, Any]], preference: str) -> dict[str, Any]:
        """A slot as a person picks one: a day of the window by their preference (the
        first offered, any, the last), then a time that day."""
        days = sorted({s["local_starts_at"][:10] for s in slots})
        if preference == "late":
            day = days[-1]
        elif preference == "any":
            day = self.rng.choice(days)
        else:
            day = days[0]
        that_day = [s for s in slots if s["local_starts_at"][:10] == day]
        return self.rng.choice(that_day)


def _choice(slot: dict[str, Any]) -> dict[str, Any]:
    return {k: slot[k] for k in ("practitioner_id", "room_id", "starts_at")}


def today_in(zone: ZoneInfo, instant: datetime) -> date:
    return instant.astimezone(zone).date()
