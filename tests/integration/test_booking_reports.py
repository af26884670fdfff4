"""The staff reports on small known scenarios, against the real database: each figure,
notify's and plans' events fed through booking's own handlers into the read model (and
applied again without counting twice), CSV, the charts, bad periods and who may read."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.auth import Role
from shared.contracts.notify import ConfirmationReceived, MessageStatusChanged
from shared.contracts.plans import (
    CycleScheduled,
    PlanCancelled,
    PlanCompleted,
    SessionWindow,
    WindowsChanged,
)
from shared.events import Payload
from tests.utils.booking import Booking, running_booking, token_of

PARIS = ZoneInfo("Europe/Paris")
JANUARY = {"from": "2026-01-01", "to": "2026-01-31"}  # booking's clock starts on Monday the 5th


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Paris on a day of January 2026."""
    return datetime.combine(date(2026, 1, day), time(hour, minute), PARIS)


async def course(
    booking: Booking,
    *,
    indication: str = "cellulite",
    first: int,
    slack: int = 2,
    sessions: int = 1,
    minutes: int = 30,
    preferred: str | None = None,
) -> CycleScheduled:
    """Plans' cycle of ``sessions`` a week apart, the first on January ``first``, applied
    through booking's handler."""
    start = date(2026, 1, first)
    cycle = CycleScheduled(
        plan_id=uuid.uuid4(), patient_id=uuid.uuid4(), protocol_id=uuid.uuid4(),
        protocol_version=1, indication=indication, treatment=indication, areas=["thighs"],
        session_minutes=minutes, numbing_cream_advised=False,
        preferred_practitioner_id=uuid.UUID(preferred) if preferred else None,
        time_zone="Europe/Paris",
        sessions=[
            SessionWindow(
                session_number=k + 1, total_sessions=sessions,
                target_date=start + timedelta(days=7 * k),
                earliest_date=start + timedelta(days=7 * k - slack),
                latest_date=start + timedelta(days=7 * k + slack),
            )
            for k in range(sessions)
        ],
    )  # fmt: skip
    await booking.apply(cycle)
    return cycle


async def book(
    booking: Booking,
    cycle: CycleScheduled,
    starts_at: datetime,
    *,
    number: int = 1,
    practitioner: str | None = None,
    room: str | None = None,
) -> str:
    """Staff book session ``number`` of the cycle: the appointment's id."""
    request = next(r for r in await booking.requests(cycle) if r["session_number"] == number)
    response = await booking.post(
        "/v1/appointments",
        {"booking_request_id": request["id"],
         "practitioner_id": practitioner or booking.practitioner_ids[0],
         "room_id": room or booking.room_ids[0], "starts_at": starts_at.isoformat()},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    appointment_id: str = response.json()["id"]
    return appointment_id


async def step(booking: Booking, appointment_id: str, *steps: str) -> None:
    for verb in steps:
        response = await booking.post(f"/v1/appointments/{appointment_id}/{verb}", {})
        assert response.status_code == 200, response.text


async def report(
    booking: Booking, name: str, location_id: str | None = None, **period: str
) -> dict[str, Any]:
    params = {"location_id": location_id or booking.location_id, **(period or JANUARY)}
    response = await booking.client.get(f"/v1/reports/{name}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    found: dict[str, Any] = response.json()
    return found


async def twice(booking: Booking, *events: Payload) -> None:
    """Apply each event, then each again, as a replay would: nothing counts twice."""
    for event in (*events, *events):
        await booking.apply(event)


async def other_location(booking: Booking, name: str) -> tuple[str, str, str]:
    """A second location with a practitioner and a room: (location, practitioner, room)."""
    location = await booking.post("/v1/locations", {"name": name, "time_zone": "Europe/Paris"})
    assert location.status_code == 201, location.text
    where = location.json()["id"]
    doctor = await booking.post(
        "/v1/practitioners",
        {"location_id": where, "full_name": "Dr Lyon", "indications": ["cellulite"]},
    )
    room = await booking.post("/v1/rooms", {"location_id": where, "name": "Salle 1"})
    return where, doctor.json()["id"], room.json()["id"]


def line(found: dict[str, Any], indication: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [
        x for x in found["indications"] if x["indication"] == indication
    ]
    assert len(matches) == 1, found
    return matches[0]


async def test_adherence_counts_on_time_late_and_missed_sessions_and_plans_per_indication(
    booking: Booking,
) -> None:
    lyon, lyon_doctor, lyon_room = await other_location(booking, "Lyon")
    doctor, other_doctor = booking.practitioner_ids
    # A: two cellulite sessions; the second's window moves earlier once it is booked.
    a = await course(booking, first=7, sessions=2)
    a1 = await book(booking, a, at(7, 10))
    a2 = await book(booking, a, at(14, 10), number=2)
    moved = SessionWindow(
        session_number=2, total_sessions=2, target_date=date(2026, 1, 11),
        earliest_date=date(2026, 1, 9), latest_date=date(2026, 1, 12),
    )  # fmt: skip
    await booking.apply(
        WindowsChanged(plan_id=a.plan_id, patient_id=a.patient_id, reason="reanchored",
                       sessions=[moved])
    )  # fmt: skip
    # B: weight loss, a no-show, then the plan is dropped.
    b = await course(booking, indication="weight_loss", first=8)
    b1 = await book(booking, b, at(8, 11), practitioner=other_doctor, room=booking.room_ids[1])
    # C: never booked, its window (5 to 7 January) closes; D's is still to come.
    await course(booking, first=6, slack=1, preferred=doctor)
    await course(booking, first=20, preferred=doctor)
    # E: at the other location.
    e = await course(booking, first=7)
    e1 = await book(booking, e, at(7, 14), practitioner=lyon_doctor, room=lyon_room)

    booking.clock.set(at(7, 10, 1))
    await step(booking, a1, "check-in", "complete")
    booking.clock.set(at(7, 14, 1))
    await step(booking, e1, "check-in", "complete")
    booking.clock.set(at(8, 11, 1))
    await step(booking, b1, "no-show")
    await twice(booking, PlanCancelled(plan_id=b.plan_id, patient_id=b.patient_id, reason="moved"))
    booking.clock.set(at(14, 10, 1))
    await step(booking, a2, "check-in", "complete")
    await twice(booking, PlanCompleted(plan_id=a.plan_id, patient_id=a.patient_id))

    found = await report(booking, "adherence")
    assert found["period"] == JANUARY
    assert line(found, "cellulite") == {
        "indication": "cellulite", "completed_on_time": 1, "completed_early": 0,
        "completed_late": 1, "completed": 2, "no_shows": 0, "windows_closed_unbooked": 1,
        "missed": 1, "plans_completed": 1, "plans_dropped": 0,
    }  # fmt: skip
    assert line(found, "weight_loss") == {
        "indication": "weight_loss", "completed_on_time": 0, "completed_early": 0,
        "completed_late": 0, "completed": 0, "no_shows": 1, "windows_closed_unbooked": 0,
        "missed": 1, "plans_completed": 0, "plans_dropped": 1,
    }  # fmt: skip
    assert [x["indication"] for x in found["indications"]] == ["cellulite", "weight_loss"]
    total = found["total"]
    assert (total["indication"], total["completed"], total["missed"]) == ("all", 2, 2)
    assert (total["plans_completed"], total["plans_dropped"]) == (1, 1)

    # The first ten days: A's late session and its plan's end fall outside.
    early = await report(booking, "adherence", **{"from": "2026-01-01", "to": "2026-01-10"})
    cellulite = line(early, "cellulite")
    assert (cellulite["completed_on_time"], cellulite["completed_late"]) == (1, 0)
    assert (cellulite["windows_closed_unbooked"], cellulite["plans_completed"]) == (1, 0)
    assert line(early, "weight_loss")["plans_dropped"] == 1  # dropped on the 8th

    # The other location has its own session only.
    there = await report(booking, "adherence", lyon)
    shown = [(x["indication"], x["completed_on_time"], x["missed"]) for x in there["indications"]]
    assert shown == [("cellulite", 1, 0)]


async def test_no_show_and_late_cancel_rates(booking: Booking) -> None:
    visits = {
        name: await book(booking, await course(booking, first=day), at(day, hour))
        for name, day, hour in (
            ("completed", 6, 10), ("no_show", 6, 11), ("checked_in", 6, 12),
            ("cancelled_late", 7, 10), ("cancelled_early", 9, 10), ("unmarked", 7, 15),
        )
    }  # fmt: skip
    dropped = await course(booking, first=7)
    visits["plan_dropped"] = await book(booking, dropped, at(7, 16))

    booking.clock.set(at(6, 10, 1))
    await step(booking, visits["completed"], "check-in", "complete")
    booking.clock.set(at(6, 11, 1))
    await step(booking, visits["no_show"], "no-show")
    booking.clock.set(at(6, 12, 1))
    await step(booking, visits["checked_in"], "check-in")
    booking.clock.set(at(6, 12, 30))  # 21.5 hours before the 7th at 10:00, 69.5 before the 9th
    await step(booking, visits["cancelled_late"], "cancel")
    await step(booking, visits["cancelled_early"], "cancel")
    booking.clock.set(at(6, 18))  # 22 hours before the 7th at 16:00
    await booking.apply(PlanCancelled(plan_id=dropped.plan_id, patient_id=dropped.patient_id))
    booking.clock.set(at(8, 9))

    found = await report(booking, "attendance", **{"from": "2026-01-05", "to": "2026-01-11"})
    figures = {k: v for k, v in found.items() if k not in ("location_id", "period", "computed_at")}
    assert figures == {
        "location_name": "Paris", "appointments_booked": 7, "attended": 2, "no_shows": 1,
        "unmarked": 1, "no_show_rate": 0.3333, "cancelled": 3, "late_cancels": 2,
        "late_cancel_rate": 0.2857, "late_cancel_cutoff_hours": 24,
    }  # fmt: skip
    # One day only: the 6th's three sessions, all marked.
    day = await report(booking, "attendance", **{"from": "2026-01-06", "to": "2026-01-06"})
    assert (day["appointments_booked"], day["no_show_rate"], day["late_cancel_rate"]) == (
        3, 0.3333, 0.0,
    )  # fmt: skip


async def test_utilisation_is_booked_minutes_over_open_minutes_less_time_off(
    booking: Booking,
) -> None:
    doctor, other_doctor = booking.practitioner_ids
    other_room = booking.room_ids[1]
    weekdays = [{"weekday": d, "opens": "09:00", "closes": "17:00"} for d in range(5)]
    hours = await booking.client.put(f"/v1/practitioners/{doctor}/weekly-hours", json=weekdays)
    assert hours.status_code == 200, hours.text
    for kind, resource, starts, ends in (
        ("practitioner", doctor, at(7, 9), at(7, 13)),  # 240 minutes of leave
        ("location", booking.location_id, at(11, 8), at(11, 20)),  # Sunday closed
    ):
        off = await booking.post("/v1/time-off", {
            "resource_kind": kind, "resource_id": resource, "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(),
        })  # fmt: skip
        assert off.status_code == 201, off.text
    await book(booking, await course(booking, first=6), at(6, 10))  # doctor, room
    await book(booking, await course(booking, first=6, minutes=60), at(6, 11), room=other_room)
    await book(booking, await course(booking, first=8), at(8, 14), practitioner=other_doctor)
    cancelled = await book(booking, await course(booking, first=9), at(9, 10))
    await step(booking, cancelled, "cancel")
    await book(booking, await course(booking, first=12), at(12, 10))  # after the week

    found = await report(booking, "utilisation", **{"from": "2026-01-05", "to": "2026-01-11"})
    usage = {u["name"]: (u["open_minutes"], u["booked_minutes"], u["utilisation"])
             for u in [*found["practitioners"], *found["rooms"]]}  # fmt: skip
    assert usage == {
        "Dr 0": (5 * 480 - 240, 90, 0.0417),  # weekdays 09:00-17:00 less the leave
        "Dr 1": (6 * 720, 30, 0.0069),  # the location's 08:00-20:00, the Sunday closed
        "Room 0": (6 * 720, 60, 0.0139),
        "Room 1": (6 * 720, 60, 0.0139),
    }
    everyone = found["all_practitioners"]
    assert (everyone["id"], everyone["name"], everyone["kind"]) == (
        None,
        "All practitioners",
        "practitioner",
    )
    assert (everyone["open_minutes"], everyone["booked_minutes"]) == (6480, 120)
    assert (found["all_rooms"]["open_minutes"], found["all_rooms"]["utilisation"]) == (8640, 0.0139)


def sms(
    message_id: uuid.UUID, kind: str, status: str, changed_at: datetime, *,
    appointment_id: str | None = None, patient_id: uuid.UUID | None = None,
) -> MessageStatusChanged:  # fmt: skip
    return MessageStatusChanged(
        message_id=message_id, appointment_id=uuid.UUID(appointment_id) if appointment_id else None,
        patient_id=patient_id or uuid.uuid4(), kind=kind, status=status,
        error_code=30003 if status == "undelivered" else None, changed_at=changed_at,
    )  # fmt: skip


async def test_sms_per_kind_and_the_confirmation_reply_rate_and_replays_count_once(
    booking: Booking,
) -> None:
    lyon, lyon_doctor, lyon_room = await other_location(booking, "Lyon")
    x_cycle, y_cycle = await course(booking, first=6), await course(booking, first=6)
    x = await book(booking, x_cycle, at(6, 10))
    y = await book(booking, y_cycle, at(6, 11))
    there = await book(
        booking, await course(booking, first=6), at(6, 10), practitioner=lyon_doctor, room=lyon_room
    )
    t0 = booking.clock.now()
    later = t0 + timedelta(minutes=1)
    ids = {
        name: uuid.uuid4() for name in ("cx", "cy", "rx", "ry", "ry2", "cream", "invite", "lyon")
    }
    events = [
        sms(ids["cx"], "confirmation", "queued", t0, appointment_id=x),
        sms(ids["cx"], "confirmation", "delivered", later, appointment_id=x),
        # The same instant: the later status in a message's life wins.
        sms(ids["cy"], "confirmation", "sent", t0, appointment_id=y),
        sms(ids["cy"], "confirmation", "delivered", t0, appointment_id=y),
        sms(ids["rx"], "reminder_24h", "failed", t0, appointment_id=x),
        sms(ids["ry"], "reminder_24h", "undelivered", later, appointment_id=y),
        sms(ids["ry2"], "reminder_2h", "unknown", t0, appointment_id=y),
        sms(ids["cream"], "cream_ready", "skipped", t0, appointment_id=x),
        # About no appointment: the patient's latest appointment says where.
        sms(ids["invite"], "invitation", "delivered", t0, patient_id=x_cycle.patient_id),
        sms(ids["lyon"], "confirmation", "delivered", t0, appointment_id=there),
    ]
    reply = ConfirmationReceived(
        patient_id=x_cycle.patient_id, appointment_id=uuid.UUID(x), appointment_version=1,
        received_at=later + timedelta(minutes=5),
    )  # fmt: skip
    for event in events:
        await booking.apply(event)
    await booking.apply(reply)

    found = await report(booking, "sms")
    columns = ("kind", "sent", "delivered", "failed", "in_doubt", "not_sent")
    assert [tuple(k[c] for c in columns) for k in found["kinds"]] == [
        ("invitation", 1, 1, 0, 0, 0),
        ("confirmation", 2, 2, 0, 0, 0),
        ("reminder_24h", 2, 0, 2, 0, 0),
        ("reminder_2h", 1, 0, 0, 1, 0),
        ("cream_ready", 0, 0, 0, 0, 1),
    ]
    assert found["confirmation_replies"] == {"delivered": 2, "answered": 1, "reply_rate": 0.5}
    lyon_sms = await report(booking, "sms", lyon)
    assert [(k["kind"], k["delivered"]) for k in lyon_sms["kinds"]] == [("confirmation", 1)]

    # Replayed, in reverse order (older statuses arriving after newer), nothing moves.
    replayed: list[Payload] = [*events, reply]
    for again_applied in reversed(replayed):
        await booking.apply(again_applied)
    again = await report(booking, "sms")
    assert (again["kinds"], again["confirmation_replies"]) == (
        found["kinds"], found["confirmation_replies"],
    )  # fmt: skip


async def test_the_waitlist_fill_rate_is_freed_slots_claimed_over_those_offered(
    booking: Booking,
) -> None:
    waiting = await course(booking, first=8)
    cancelling = await course(booking, first=8, slack=1)
    first_freed = await book(booking, cancelling, at(8, 10))
    await step(booking, first_freed, "cancel")
    [made] = await booking.events("offer_made.v1")
    assert made["patient_id"] == str(waiting.patient_id)
    link = {"X-Patient-Token": token_of(made["link_url"])}
    claimed = await booking.post("/v1/self-booking/offer/claim", headers=link)
    assert claimed.status_code == 200, claimed.text
    # A second freed slot: offered to the first one's session (open again), never claimed.
    second_freed = await book(booking, await course(booking, first=8, slack=1), at(8, 15))
    await step(booking, second_freed, "cancel")
    offers = [e for e in await booking.events() if ".offer_" in e["type"]]
    assert [e["type"].split(".")[2] for e in offers] == [
        "offer_made",
        "offer_claimed",
        "offer_made",
    ]
    assert offers[-1]["booking_request_id"] == (await booking.requests(cancelling))[0]["id"]

    found = await report(booking, "offers")
    assert {k: found[k] for k in ("freed_slots_offered", "freed_slots_claimed", "fill_rate",
                                   "offers_made", "offers")} == {
        "freed_slots_offered": 2, "freed_slots_claimed": 1, "fill_rate": 0.5, "offers_made": 2,
        "offers": {"live": 1, "claimed": 1, "declined": 0, "expired": 0, "withdrawn": 0},
    }  # fmt: skip
    before = await report(booking, "offers", **{"from": "2026-01-01", "to": "2026-01-07"})
    assert (before["freed_slots_offered"], before["fill_rate"]) == (0, None)


async def test_csv_by_accept_or_format_with_its_filename_and_the_charts_as_svg(
    booking: Booking,
) -> None:
    name = "Lyon <Part-Dieu> & Co"
    lyon, lyon_doctor, lyon_room = await other_location(booking, name)
    await booking.post("/v1/rooms", {"location_id": lyon, "name": "=HYPERLINK(1)"})
    cycle = await course(booking, first=6)
    appointment = await book(booking, cycle, at(6, 10), practitioner=lyon_doctor, room=lyon_room)
    booking.clock.set(at(6, 10, 1))
    await step(booking, appointment, "no-show")
    params = {"location_id": lyon, "from": "2026-01-05", "to": "2026-01-11"}

    as_csv = await booking.client.get(
        "/v1/reports/adherence",
        params=params,
        headers={"Accept": "application/json;q=0.5, text/csv"},
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    assert as_csv.headers["content-disposition"] == (
        'attachment; filename="mesocycle-adherence-lyon-part-dieu-co-2026-01-05-to-2026-01-11.csv"'
    )
    assert as_csv.headers["vary"] == "Accept"
    assert as_csv.text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows == [
        ["indication", "completed_on_time", "completed_early", "completed_late", "completed",
         "no_shows", "windows_closed_unbooked", "missed", "plans_completed", "plans_dropped"],
        ["cellulite", "0", "0", "0", "0", "1", "0", "1", "0", "0"],
        ["all", "0", "0", "0", "0", "1", "0", "1", "0", "0"],
    ]  # fmt: skip

    by_format = await booking.client.get(
        "/v1/reports/utilisation", params={**params, "format": "csv"}
    )
    assert by_format.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(by_format.text)))
    assert [(r["kind"], r["name"]) for r in lines] == [
        ("practitioner", "Dr Lyon"), ("practitioner", "All practitioners"),
        ("room", "'=HYPERLINK(1)"), ("room", "Salle 1"), ("room", "All rooms"),
    ]  # fmt: skip
    assert (lines[0]["booked_minutes"], lines[1]["id"]) == ("30", "")
    # format wins over Accept; anything else gets JSON.
    as_json = await booking.client.get(
        "/v1/reports/attendance",
        params={**params, "format": "json"},
        headers={"Accept": "text/csv"},
    )
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json()["location_name"] == name
    assert "content-disposition" not in as_json.headers
    for accept in ("*/*", "application/xml", "text/csv;q=0"):
        answer = await booking.client.get(
            "/v1/reports/sms", params=params, headers={"Accept": accept}
        )
        assert answer.headers["content-type"] == "application/json", accept
    for report_name, header in (
        ("attendance", "appointments_booked,attended,no_shows,unmarked,no_show_rate,cancelled,"
                       "late_cancels,late_cancel_rate,late_cancel_cutoff_hours"),
        ("sms", "kind,sent,delivered,failed,in_doubt,not_sent,answered,reply_rate"),
        ("offers", "freed_slots_offered,freed_slots_claimed,fill_rate,offers_made,offers_live,"
                   "offers_claimed,offers_declined,offers_expired,offers_withdrawn"),
    ):  # fmt: skip
        answer = await booking.client.get(
            f"/v1/reports/{report_name}", params={**params, "format": "csv"}
        )
        assert answer.text.split("\r\n")[0] == header, report_name
    attended = await booking.client.get(
        "/v1/reports/attendance", params={**params, "format": "csv"}
    )
    [row] = csv.DictReader(io.StringIO(attended.text))
    assert (row["no_shows"], row["no_show_rate"], row["late_cancel_rate"]) == ("1", "1.0", "0.0")

    # The page's charts: SVG images that say their figures, the location's name escaped.
    for report_name, figures in (
        ("adherence", "0 on time, 0 late, 1 missed"),
        ("attendance", "100% (1 of 1 that came due)"),
        ("utilisation", "0.6% (30 of 5040 min)"),  # Dr Lyon: 08:00-20:00 every day
        ("sms", "n/a answered C (0 of 0 delivered)"),
        ("offers", "n/a (0 of 0 offered)"),
    ):
        chart = await booking.client.get(f"/v1/board/reports/{report_name}/chart", params=params)
        assert chart.status_code == 200, chart.text
        assert chart.headers["content-type"] == "image/svg+xml"
        assert chart.text.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
        assert 'role="img"' in chart.text
        assert "Lyon &lt;Part-Dieu&gt; &amp; Co" in chart.text
        assert figures in chart.text, (report_name, chart.text)


async def test_bad_periods_unknown_locations_and_who_may_read(booking: Booking) -> None:
    place = booking.location_id
    for params, why in (
        ({"from": "2026-01-10", "to": "2026-01-09"}, "to (2026-01-09) must be on or after from"),
        ({"from": "2026-01-01", "to": "2027-01-02"}, "2026-01-01 to 2027-01-02 is 367"),
        ({"from": "2026-13-01", "to": "2026-01-09"}, "from"),
        ({"to": "2026-01-09"}, "from"),
        ({"from": "2026-01-01", "to": "2026-01-09", "format": "xml"}, "format"),
    ):  # fmt: skip
        refused = await booking.client.get(
            "/v1/reports/sms", params={"location_id": place, **params}
        )
        assert refused.status_code == 422, (params, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert why in refused.json()["detail"], (params, refused.json())
    a_year = {"from": "2024-01-01", "to": "2024-12-31"}
    assert (
        await booking.client.get("/v1/reports/sms", params={"location_id": place, **a_year})
    ).status_code == 200
    nowhere = await booking.client.get(
        "/v1/reports/offers", params={"location_id": str(uuid.uuid4()), **JANUARY}
    )
    assert nowhere.status_code == 404
    assert "no location" in nowhere.json()["detail"]
    chart = await booking.client.get(
        "/v1/board/reports/nothing/chart", params={"location_id": place, **JANUARY}
    )
    assert chart.status_code == 422

    params = {"location_id": place, **JANUARY}
    for path in ("/v1/reports/adherence", "/v1/board/reports/adherence/chart"):
        anonymous = await booking.client.get(path, params=params, headers={"Authorization": ""})
        assert anonymous.status_code == 401, path
        practitioner = booking.headers(Role.PRACTITIONER, booking.practitioner_ids[0])
        forbidden = await booking.client.get(path, params=params, headers=practitioner)
        assert forbidden.status_code == 403, path
        desk = await booking.client.get(path, params=params, headers=booking.headers(Role.STAFF))
        assert desk.status_code == 200, path
    # Who may not read learns nothing of what exists: 401 before 404.
    unknown = {"location_id": str(uuid.uuid4()), **JANUARY}
    anonymous = await booking.client.get(
        "/v1/reports/sms", params=unknown, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401

    page = await booking.client.get("/board/reports", headers={"Authorization": ""})
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<script src="/web/static/reports.js" defer></script>' in page.text
    script = await booking.client.get("/web/static/reports.js")
    assert script.status_code == 200
