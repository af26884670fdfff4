"""What must hold across the three services, checked on what was read from their parts.

Pure: each check takes rows read by :mod:`sim.observe` (a :class:`World`, or one SMS with
the snapshots around its sending) and returns the :class:`Violation` s it finds, each
naming the ids involved. Nothing is read from a service's API: the checks do not trust
the code they check.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sim.observe import ACTIVE, LEFT_US, PatientState, Snapshot, World

#: Kinds notify must never send in the patient's quiet hours (the others answer
#: something that just happened and go at once).
HELD_IN_QUIET_HOURS = frozenset(
    {"invitation", "offer", "reminder_24h", "reminder_2h", "cream_ready", "cream_apply"}
)
SCHEDULED = frozenset({"reminder_24h", "reminder_2h", "cream_ready", "cream_apply"})
ABOUT_A_SESSION = SCHEDULED | {"confirmation"}
#: plans' session status -> the booking request statuses that agree with it.
AGREEING = {
    "open": {"open", "held"},
    "booked": {"booked"},
    "completed": {"completed"},
    "withdrawn": {"withdrawn"},
    "cancelled": {"cancelled"},
}
LINK = re.compile(r"https?://\S+/book/[A-Za-z0-9_\-.~%]+")
FRENCH = ("séance", "rendez-vous", "réserver", "répondez", "crème", "annulé", "horaire")
ENGLISH = ("appointment", "session", "book", "reply", "cream", "see you", "cancelled")


@dataclass(frozen=True)
class Violation:
    """One thing that must not be, with the ids to find it by."""

    invariant: str
    detail: str
    ids: dict[str, str] = field(default_factory=dict)
    at: str = ""

    def __str__(self) -> str:
        ids = " ".join(f"{k}={v}" for k, v in self.ids.items())
        return f"[{self.invariant}] {self.detail} ({ids})" + (f" at {self.at}" if self.at else "")

    def json(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "detail": self.detail, "ids": self.ids, "at": self.at}


@dataclass(frozen=True)
class Policy:
    """The parts of notify's message policy the SMS checks need (defaults: notify's)."""

    quiet_start: time = time(21)
    quiet_end: time = time(8)
    daily_cap: int = 4
    weekly_cap: int = 10
    languages: tuple[str, ...] = ("en", "fr")
    default_language: str = "en"

    @classmethod
    def of(cls, document: dict[str, Any] | None) -> Policy:
        if not document:
            return cls()
        default = cls()
        return cls(
            quiet_start=time.fromisoformat(document.get("quiet_hours_start", "21:00")),
            quiet_end=time.fromisoformat(document.get("quiet_hours_end", "08:00")),
            daily_cap=int(document.get("daily_cap", default.daily_cap)),
            weekly_cap=int(document.get("weekly_cap", default.weekly_cap)),
            languages=tuple(document.get("languages", default.languages)),
            default_language=document.get("default_language", default.default_language),
        )

    def quiet(self, instant: datetime, zone: ZoneInfo) -> bool:
        wall = instant.astimezone(zone).time()
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= wall < self.quiet_end
        return wall >= self.quiet_start or wall < self.quiet_end

    def language_for(self, language: str) -> str:
        return language if language in self.languages else self.default_language


# -- SMS: each one the sandbox received, judged at the instant it was sent -------------------


@dataclass(frozen=True)
class Sent:
    """One SMS the sandbox accepted, at the pinned instant it was sent, with notify's row
    for it (None: notify has none) and what booking issued its link for (invitations)."""

    sid: str
    to: str
    body: str
    sent_at: datetime
    row: dict[str, Any] | None
    invitation: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        return str(self.row["kind"]) if self.row else "?"

    @property
    def patient_id(self) -> str | None:
        return str(self.row["patient_id"]) if self.row else None


@dataclass
class Ledger:
    """Every SMS sent so far, in the order the sandbox got them."""

    sent: list[Sent] = field(default_factory=list)
    keys: set[tuple[str, ...]] = field(default_factory=set)

    def by_patient(self, patient_id: str) -> list[Sent]:
        return [s for s in self.sent if s.patient_id == patient_id]


def check_sms(
    sms: Sent,
    before: Snapshot,
    after: Snapshot,
    ledger: Ledger,
    policy: Policy,
    history: Mapping[str, list[tuple[datetime, str, datetime]]] | None = None,
) -> list[Violation]:
    """Was this SMS valid when it went out? Its premise is judged on the quiet states just
    before and just after its sending: it fails only if it failed in both (what changed at
    the very instant it went is the one race the design accepts)."""
    found: list[Violation] = []
    ids = {"sms": sms.sid, "to": sms.to}
    at = sms.sent_at.isoformat()

    def bad(invariant: str, detail: str, **more: str | None) -> None:
        found.append(
            Violation(invariant, detail, {**ids, **{k: v for k, v in more.items() if v}}, at)
        )

    row = sms.row
    if row is None:
        owners = [pid for pid, p in after.patients.items() if p.phone == sms.to]
        if owners:
            ids["patient"] = owners[0]
        bad("sms.recorded", "the sandbox got an SMS notify has no message for (sent twice?)")
        if not owners:
            return found
        patient_id = owners[0]
    else:
        ids.update(message=str(row["id"]), kind=row["kind"], patient=str(row["patient_id"]))
        if row["appointment_id"]:
            ids["appointment"] = str(row["appointment_id"])
        if row["body"] != sms.body:
            bad("sms.recorded", "the text the sandbox got is not the text notify recorded")
        if row["attempted_at"] is None:
            bad("sms.recorded", "notify did not record when it went")
        patient_id = str(row["patient_id"])
    states = [s.patients.get(patient_id) for s in (before, after)]
    known = [p for p in states if p is not None]
    if not known:
        bad("sms.consent", "sent to a patient plans does not know")
        return found
    patient = known[-1]
    if all(p is None or p.erased for p in states):
        bad("sms.consent", "sent to an erased patient")
    elif all(
        p is None or not p.consent or patient_id in s.opted_out
        for p, s in zip(states, (before, after), strict=True)
    ):
        bad("sms.consent", "sent to a patient without SMS consent (never given, or STOP)")
    if sms.to not in {p.phone for p in known}:
        bad("sms.recipient", f"sent to {sms.to}, not to the patient's phone {patient.phone}")
    if row is not None and row["sent_to"] != sms.to and not patient.erased:  # erasure drops it
        bad("sms.recorded", f"notify recorded it went to {row['sent_to']}, not {sms.to}")
    if row is None:
        return found
    _premise(sms, before, after, ledger, bad, history or {})
    _once(sms, ledger, bad)
    zone = ZoneInfo(patient.time_zone)
    if row["kind"] in HELD_IN_QUIET_HOURS and policy.quiet(sms.sent_at, zone):
        local = sms.sent_at.astimezone(zone).strftime("%H:%M")
        bad("sms.quiet_hours", f"a {row['kind']} sent at {local} in {patient.time_zone}")
    expected = policy.language_for(patient.language)
    if row["language"] != expected or not _reads_as(sms.body, expected):
        bad(
            "sms.language",
            f"in {row['language']!r} for a patient whose language is {patient.language!r} "
            f"(expected {expected!r})",
        )
    if row["kind"] in SCHEDULED:
        _caps(sms, ledger, policy, zone, bad)
    return found


def _premise(
    sms: Sent,
    before: Snapshot,
    after: Snapshot,
    ledger: Ledger,
    bad: Callable[..., None],
    history: Mapping[str, list[tuple[datetime, str, datetime]]],
) -> None:
    row = sms.row
    assert row is not None
    kind = row["kind"]
    snapshots = (before, after)
    if kind == "invitation":
        invitation = sms.invitation
        if invitation is None:
            bad("sms.premise", "an invitation whose link booking never issued")
            return
        request_id = str(invitation["booking_request_id"])
        appointment_id = invitation.get("appointment_id")
        if appointment_id is None:
            statuses = [s.requests.get(request_id) for s in snapshots]
            if "open" not in statuses:
                bad(
                    "sms.premise",
                    f"an invitation to book session {invitation['session_number']} whose "
                    f"request was {statuses[-1]} (before: {statuses[0]})",
                    request=request_id,
                    plan=str(invitation["plan_id"]),
                )
        else:
            statuses = [
                s.appointments.get(str(appointment_id), ("gone", None))[0] for s in snapshots
            ]
            statuses += [status for status, _ in _at_the_instant(sms, history, appointment_id)]
            if not {"held", "booked", "confirmed"} & set(statuses):
                bad(
                    "sms.premise",
                    f"a link about appointment {appointment_id}, which was {statuses[-1]}",
                    request=request_id,
                    held_appointment=str(appointment_id),
                )
    elif kind in ABOUT_A_SESSION:
        appointment_id = str(row["appointment_id"])
        states = [s.appointments.get(appointment_id) for s in snapshots]
        # A state it passed through at the very instant of the send counts (the race
        # the design accepts).
        states += _at_the_instant(sms, history, appointment_id)
        holds = any(
            state is not None
            and state[0] in ("booked", "confirmed")
            and state[1] == row["session_starts_at"]
            for state in states
        )
        if not holds:
            status, starts_at = states[-1] or ("unknown", None)
            said = (
                "cancelled or over"
                if status not in ("booked", "confirmed")
                else f"moved to {starts_at.isoformat() if starts_at else '?'}"
            )
            bad(
                "sms.premise",
                f"a {kind} for the session at {row['session_starts_at']}, but the "
                f"appointment was {status} ({said})",
            )
    elif kind == "offer":
        # Live when it went: made, not yet past its claim window, not closed before (a close
        # at the very instant of the send is the race the design accepts).
        offer_id = str(row["offer_id"])
        offer = after.offers.get(offer_id)
        if offer is None:
            bad("sms.premise", "an offer SMS for an offer booking never made", offer=offer_id)
        elif sms.sent_at >= offer.claim_by:
            bad("sms.premise", f"an offer SMS sent after its claim window ({offer.claim_by})")
        elif offer.closed_at is not None and offer.closed_at < sms.sent_at:
            bad(
                "sms.premise",
                f"an offer SMS sent after the offer was {offer.status} ({offer.closed_at})",
                offer=offer_id,
            )
    elif kind == "cancellation":
        appointment_id = str(row["appointment_id"])
        told = any(
            s.row is not None
            and s.row["kind"] == "confirmation"
            and str(s.row["appointment_id"]) == appointment_id
            for s in ledger.sent
        )
        if not told:
            bad("sms.premise", "a cancellation notice for a booking the patient was never told of")
        statuses = [s.appointments.get(appointment_id, ("gone", None))[0] for s in snapshots]
        if "cancelled" not in statuses:
            bad("sms.premise", f"a cancellation notice, but the appointment is {statuses[-1]}")


def _at_the_instant(
    sms: Sent, history: Mapping[str, list[tuple[datetime, str, datetime]]], appointment_id: str
) -> list[tuple[str, datetime]]:
    """The states the appointment passed through at the very instant the SMS went (a desk
    round that books, moves and cancels at once): a premise that held then, held."""
    return [
        (status, starts_at)
        for when, status, starts_at in history.get(appointment_id, [])
        if when == sms.sent_at
    ]


def _once(sms: Sent, ledger: Ledger, bad: Callable[..., None]) -> None:
    row = sms.row
    assert row is not None
    kind = row["kind"]
    if kind == "invitation":
        link = LINK.search(sms.body)
        key: tuple[str, ...] = ("invitation", link.group(0) if link else sms.body)
    elif kind == "cancellation":
        key = (kind, str(row["appointment_id"]))
    elif kind == "offer":
        key = (kind, str(row["offer_id"]))
    elif kind in ABOUT_A_SESSION:
        key = (kind, str(row["appointment_id"]), str(row["session_starts_at"]))
    else:
        key = ("message", str(row["id"]))
    if key in ledger.keys:
        bad(
            "sms.once",
            f"a second {kind} for the same {'link' if kind == 'invitation' else 'session time'}",
        )
    ledger.keys.add(key)


def _caps(
    sms: Sent, ledger: Ledger, policy: Policy, zone: ZoneInfo, bad: Callable[..., None]
) -> None:
    assert sms.patient_id is not None
    day = sms.sent_at.astimezone(zone).date()
    earlier = [s.sent_at.astimezone(zone).date() for s in ledger.by_patient(sms.patient_id)]
    on_day = sum(d == day for d in earlier)
    in_week = sum(d.isocalendar()[:2] == day.isocalendar()[:2] for d in earlier)
    if on_day >= policy.daily_cap:
        bad("sms.cap", f"a {sms.kind} after {on_day} SMS that day (daily cap {policy.daily_cap})")
    if in_week >= policy.weekly_cap:
        bad(
            "sms.cap",
            f"a {sms.kind} after {in_week} SMS that week (weekly cap {policy.weekly_cap})",
        )


def _reads_as(body: str, language: str) -> bool:
    """A rough look at the text: French words in French, none of them in English."""
    lowered = body.lower()
    french = any(word in lowered for word in FRENCH)
    if language == "fr":
        return french
    if language == "en":
        return not french and any(word in lowered for word in ENGLISH)
    return True


# -- the state of the services, at a quiet moment ------------------------------------------


def sessions_match_requests(world: World) -> list[Violation]:
    """Every session of every active or paused plan has its booking request, in a status
    that agrees, with the same window; every request has its session; a cancelled plan
    has nothing left to book and nothing ahead."""
    found = []
    plans = {p["id"]: p for p in world.plans}
    requests = {(r["plan_id"], r["session_number"]): r for r in world.requests}
    sessions = {(s["plan_id"], s["session_number"]): s for s in world.sessions}
    active = {
        a["booking_request_id"]: a
        for a in world.appointments
        if a["status"] in ACTIVE and a["booking_request_id"]
    }
    for key, s in sessions.items():
        plan = plans[s["plan_id"]]
        ids = {
            "plan": s["plan_id"],
            "session": str(s["session_number"]),
            "patient": plan["patient_id"],
        }
        request = requests.get(key)
        if plan["status"] == "draft":
            continue
        if request is None:
            found.append(Violation("sessions.match", "a session booking has no request for", ids))
            continue
        ids["request"] = request["id"]
        if plan["status"] in ("active", "paused"):
            agreeing = AGREEING.get(s["status"], set())
            if request["status"] not in agreeing:
                found.append(
                    Violation(
                        "sessions.match",
                        f"plans has the session {s['status']}, booking's request is "
                        f"{request['status']}",
                        ids,
                    )
                )
            # A paused plan sends the windows a completion moved only when it resumes.
            if plan["status"] == "active" and s["status"] in ("open", "booked"):
                plans_window = (s["earliest_date"], s["target_date"], s["latest_date"])
                booking_window = (
                    request["earliest_date"],
                    request["target_date"],
                    request["latest_date"],
                )
                if plans_window != booking_window:
                    found.append(
                        Violation(
                            "sessions.window",
                            f"plans' window {_dates(plans_window)} but booking's "
                            f"{_dates(booking_window)}",
                            ids,
                        )
                    )
            appointment = active.get(request["id"])
            if s["status"] == "booked" and (
                appointment is None or appointment["id"] != s["appointment_id"]
            ):
                found.append(
                    Violation(
                        "sessions.match",
                        "plans has the session booked with an appointment booking does not "
                        f"have active on it ({appointment['id'] if appointment else 'none'})",
                        {**ids, "appointment": str(s["appointment_id"])},
                    )
                )
        elif plan["status"] == "cancelled":
            if request["status"] not in ("cancelled", "completed"):
                found.append(
                    Violation(
                        "sessions.match",
                        f"the plan is cancelled but booking's request is {request['status']}",
                        ids,
                    )
                )
            appointment = active.get(request["id"])
            if appointment is not None and appointment["starts_at"] > world.at:
                found.append(
                    Violation(
                        "sessions.match",
                        "the plan is cancelled but an appointment ahead is still "
                        f"{appointment['status']}",
                        {**ids, "appointment": appointment["id"]},
                    )
                )
    for key, request in requests.items():
        if key not in sessions:
            found.append(
                Violation(
                    "sessions.match",
                    "a booking request for a session plans does not have",
                    {
                        "request": request["id"],
                        "plan": request["plan_id"],
                        "session": str(request["session_number"]),
                    },
                )
            )
    return found


def patients_known_everywhere(world: World) -> list[Violation]:
    """Every patient of plans is in booking and notify, with the same phone, language,
    time zone and consent; an erased one is erased in both."""
    found = []
    for p in world.plans_patients:
        ids = {"patient": p["id"]}
        b, n = world.booking_patients.get(p["id"]), world.notify_patients.get(p["id"])
        if b is None or n is None:
            missing = " and ".join(x for x, r in (("booking", b), ("notify", n)) if r is None)
            found.append(Violation("patients.known", f"unknown to {missing}", ids))
            continue
        if p["erased_at"] is not None:
            if not b["erased"] or n["erased_at"] is None or n["phone"] is not None:
                found.append(
                    Violation("patients.known", "erased in plans but not in booking or notify", ids)
                )
            continue
        for name, mine, theirs in (
            ("phone", p["phone"], n["phone"]),
            ("language", p["language"], n["language"]),
            ("time zone", p["time_zone"], n["time_zone"]),
            ("SMS consent", p["sms_consent"], n["sms_consent"]),
        ):
            if mine != theirs:
                found.append(
                    Violation("patients.known", f"{name}: plans {mine!r}, notify {theirs!r}", ids)
                )
        if b["time_zone"] != p["time_zone"]:
            found.append(
                Violation(
                    "patients.known",
                    f"time zone: plans {p['time_zone']!r}, booking {b['time_zone']!r}",
                    ids,
                )
            )
        if n["opted_out_at"] is not None and p["sms_consent"]:
            found.append(
                Violation("patients.known", "opted out (STOP) in notify, consenting in plans", ids)
            )
    return found


def no_overlaps(world: World, buffer_before: timedelta, buffer_after: timedelta) -> list[Violation]:
    """No two active appointments share a practitioner or a room at any instant, buffers
    included (computed here from the settings, not read from booking's columns)."""
    found = []
    active = [a for a in world.appointments if a["status"] in ACTIVE]
    for resource in ("practitioner_id", "room_id"):
        by: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in active:
            by[a[resource]].append(a)
        for resource_id, booked in by.items():
            booked.sort(key=lambda a: (a["starts_at"], a["id"]))
            for i, a in enumerate(booked):
                for b in booked[i + 1 :]:
                    if b["starts_at"] - buffer_before >= a["ends_at"] + buffer_after:
                        break
                    found.append(
                        Violation(
                            "schedule.overlap",
                            f"two active appointments overlap on {resource[:-3]} {resource_id} "
                            f"(buffers included): {a['starts_at']:%Y-%m-%d %H:%M} and "
                            f"{b['starts_at']:%Y-%m-%d %H:%M} UTC",
                            {"appointment": a["id"], "other": b["id"], resource[:-3]: resource_id},
                        )
                    )
    return found


def sessions_spaced(world: World) -> list[Violation]:
    """Consecutive active sessions of a course are at least the protocol's minimum gap
    apart (sessions k and k+n: n gaps), on the dates where they take place."""
    found = []
    min_gap = {p["id"]: int(world.protocols[p["protocol_id"]]["min_gap_days"]) for p in world.plans}
    requests = {r["id"]: r for r in world.requests}
    courses: dict[str, list[tuple[int, date, dict[str, Any]]]] = defaultdict(list)
    for a in world.appointments:
        request = requests.get(a["booking_request_id"] or "")
        if a["status"] not in ACTIVE or request is None:
            continue
        day = a["starts_at"].astimezone(ZoneInfo(a["location_time_zone"])).date()
        courses[request["plan_id"]].append((request["session_number"], day, a))
    for plan_id, placed in courses.items():
        placed.sort(key=lambda p: p[0])
        gap = min_gap.get(plan_id)
        if gap is None:
            continue
        for (k1, d1, a1), (k2, d2, a2) in itertools.pairwise(placed):
            if (d2 - d1).days < gap * (k2 - k1):
                found.append(
                    Violation(
                        "schedule.gap",
                        f"session {k1} on {d1} and session {k2} on {d2} are {(d2 - d1).days} "
                        f"day(s) apart; the protocol asks at least {gap} per interval",
                        {"plan": plan_id, "appointment": a1["id"], "other": a2["id"]},
                    )
                )
    return found


def within_hours(world: World) -> list[Violation]:
    """Every appointment that took or takes place lies inside its practitioner's and its
    room's weekly hours (theirs, else the location's, else 08:00-20:00) and away from
    their time off and the location's closures."""
    found = []
    hours: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for h in world.hours:
        hours[h["resource_id"]].append(h)
    away: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in world.time_off:
        away[t["resource_id"]].append(t)
    for a in world.appointments:
        if a["status"] not in ACTIVE | {"completed", "no_show"}:
            continue
        zone = ZoneInfo(a["location_time_zone"])
        location = a["location_id"]
        ids = {"appointment": a["id"], "patient": a["patient_id"]}
        for resource in ("practitioner_id", "room_id"):
            own = hours.get(a[resource]) or hours.get(location)
            if not _inside(a["starts_at"], a["ends_at"], own, zone):
                found.append(
                    Violation(
                        "schedule.hours",
                        f"{a['starts_at'].astimezone(zone):%a %Y-%m-%d %H:%M}-"
                        f"{a['ends_at'].astimezone(zone):%H:%M} is outside the "
                        f"{resource[:-3]}'s hours",
                        {**ids, resource[:-3]: a[resource]},
                    )
                )
        for resource_id in (a["practitioner_id"], a["room_id"], location):
            for t in away.get(resource_id, []):
                if t["starts_at"] < a["ends_at"] and a["starts_at"] < t["ends_at"]:
                    found.append(
                        Violation(
                            "schedule.time_off",
                            f"during {t['resource_kind']} time off ({t['reason']})",
                            {**ids, "time_off": t["id"]},
                        )
                    )
    return found


def _inside(
    starts: datetime, ends: datetime, rules: list[dict[str, Any]] | None, zone: ZoneInfo
) -> bool:
    local_start, local_end = starts.astimezone(zone), ends.astimezone(zone)
    if local_start.date() != local_end.date() and local_end.time() != time(0):
        return False
    if not rules:
        return time(8) <= local_start.time() and local_end.time() <= time(20)
    day = local_start.date()
    for rule in rules:
        if rule["weekday"] != day.weekday():
            continue
        opens = datetime.combine(day, rule["opens"], zone)
        closes = datetime.combine(day, rule["closes"], zone)
        if opens <= starts and ends <= closes:
            return True
    return False


def copies_agree(world: World) -> list[Violation]:
    """notify's copy of each appointment is booking's: same version, status and time."""
    found = []
    booking = {a["id"]: a for a in world.appointments}
    for appointment_id, copy in world.notify_appointments.items():
        a = booking.get(appointment_id)
        ids = {"appointment": appointment_id, "patient": copy["patient_id"]}
        if a is None:
            found.append(
                Violation("copies.agree", "notify knows an appointment booking lacks", ids)
            )
            continue
        mine = (a["version"], a["status"], a["starts_at"])
        theirs = (copy["version"], copy["status"], copy["starts_at"])
        if mine != theirs:
            found.append(
                Violation(
                    "copies.agree",
                    f"booking has v{mine[0]} {mine[1]} at {mine[2]:%Y-%m-%d %H:%M}, notify "
                    f"v{theirs[0]} {theirs[1]} at {theirs[2]:%Y-%m-%d %H:%M} (UTC)",
                    ids,
                )
            )
    for a in booking.values():
        if a["id"] not in world.notify_appointments:
            found.append(
                Violation(
                    "copies.agree",
                    "an appointment notify never heard of",
                    {"appointment": a["id"], "patient": a["patient_id"]},
                )
            )
    return found


def nothing_lost(world: World, sandbox_sids: set[str]) -> list[Violation]:
    """Every message due has left notify; every one notify says Twilio has, the sandbox
    has; nothing was refused as sent to an opted-out number; every upcoming booked
    appointment has each message it needs planned (sent, due later, or skipped saying
    why: never missing)."""
    found = []
    known = set(world.notify_patients)
    for m in world.messages:
        ids = {"message": m["id"], "kind": m["kind"], "patient": m["patient_id"]}
        if m["status"] == "pending" and m["due_at"] <= world.at and m["patient_id"] in known:
            found.append(Violation("sms.lost", f"due at {m['due_at']} and still pending", ids))
        if m["status"] in ("sending", "unknown"):
            found.append(Violation("sms.lost", f"stuck {m['status']}", ids))
        if m["status"] in LEFT_US - {"failed"} and m["twilio_sid"] not in sandbox_sids:
            found.append(
                Violation(
                    "sms.lost",
                    f"{m['status']} in notify, but the sandbox never got it",
                    {**ids, "sid": str(m["twilio_sid"])},
                )
            )
        if m["status"] == "failed" and m["error_code"] == 21610:
            found.append(Violation("sms.consent", "sent to a number that had texted STOP", ids))
    requests = {r["id"]: r for r in world.requests}
    patients = {p["id"]: p for p in world.plans_patients}
    planned: dict[tuple[str, datetime], set[str]] = defaultdict(set)
    for m in world.messages:
        if m["status"] != "replaced" and m["appointment_id"] and m["session_starts_at"]:
            planned[m["appointment_id"], m["session_starts_at"]].add(m["kind"])
    for a in world.appointments:
        if a["status"] not in ("booked", "confirmed") or a["starts_at"] <= world.at:
            continue
        request = requests.get(a["booking_request_id"] or "")
        patient = patients.get(a["patient_id"])
        if patient is None or patient["erased_at"] is not None:
            continue
        needed = {"confirmation", "reminder_24h", "reminder_2h"}
        if patient["needle_sensitive"] or (request and request["numbing_cream_advised"]):
            needed |= {"cream_ready", "cream_apply"}
        missing = needed - planned[a["id"], a["starts_at"]]
        if missing:
            found.append(
                Violation(
                    "sms.lost",
                    f"booked for {a['starts_at']:%Y-%m-%d %H:%M} UTC with no "
                    f"{', '.join(sorted(missing))} planned for that time",
                    {"appointment": a["id"], "patient": a["patient_id"]},
                )
            )
    return found


def system_settled(world: World) -> list[Violation]:
    """Outboxes drained, every consumer group caught up, no dead letters."""
    found = []
    for service, left in world.outbox_left.items():
        if left:
            found.append(
                Violation("infra.outbox", f"{left} events unpublished", {"service": service})
            )
    for group, lag in world.lag.items():
        if lag:
            found.append(Violation("infra.lag", f"consumer lag {lag}", {"group": group}))
    for topic, count in world.dead_letters.items():
        if count:
            found.append(Violation("infra.dead_letters", f"{count} records", {"topic": topic}))
    return found


def check_world(
    world: World, *, buffer_before: timedelta, buffer_after: timedelta, sandbox_sids: set[str]
) -> list[Violation]:
    """Every state invariant, stamped with the instant it was read at."""
    found: Iterable[Violation] = [
        *sessions_match_requests(world),
        *patients_known_everywhere(world),
        *no_overlaps(world, buffer_before, buffer_after),
        *sessions_spaced(world),
        *within_hours(world),
        *copies_agree(world),
        *nothing_lost(world, sandbox_sids),
        *system_settled(world),
    ]
    at = world.at.isoformat()
    return [Violation(v.invariant, v.detail, v.ids, v.at or at) for v in found]


def _dates(window: tuple[Any, ...]) -> str:
    return "/".join(str(d) for d in window)


def patient_of(snapshot: Snapshot, patient_id: str) -> PatientState | None:
    return snapshot.patients.get(patient_id)
