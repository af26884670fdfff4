"""Staff reports per location and period: course adherence, attendance (no-shows and late
cancellations), utilisation, SMS and earlier-slot offers (docs/reports.md).

Each is one resource, ``GET /v1/reports/<name>?location_id=&from=&to=``: JSON, or CSV
with ``Accept: text/csv`` (or ``?format=csv``, which wins over Accept), as an attachment
named after the report, the location and the period. Front-desk staff and admins only:
the figures span every practitioner.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import report_queries as queries
from booking.adapters import store
from booking.adapters.report_queries import Place
from booking.api.deps import RuntimeDep, SessionDep
from booking.api.report_answers import (
    AdherenceLineOut,
    AdherenceOut,
    AttendanceOut,
    ConfirmationRepliesOut,
    OfferCountsOut,
    OffersOut,
    PeriodOut,
    ReportFormat,
    ReportName,
    SmsKindOut,
    SmsOut,
    UsageOut,
    UtilisationOut,
    answer,
    documented,
)
from booking.domain import reports
from booking.domain.availability import LocationInfo, local_date
from booking.domain.reports import Period, ResourceKind
from booking.settings import BookingSettings
from shared.api import Day, DeskDep
from shared.contracts.notify import MessageKind
from shared.problems import Unprocessable

router = APIRouter(prefix="/v1/reports", tags=["reports"])


# What a report is asked for.


@dataclass(frozen=True)
class Asked:
    """A report's location and period, with the service's clock and settings."""

    place: Place
    period: Period
    now: datetime
    settings: BookingSettings

    @property
    def today(self) -> date:
        return local_date(self.now, self.place.time_zone)


#: Days from 1900 to 2999, as the other staff routes take them (fuzzers keep to the pattern).
_DAY: dict[str, Any] = {
    "ge": date(1900, 1, 1),
    "le": date(2999, 12, 31),
    "json_schema_extra": {"pattern": "^(19|2[0-9])[0-9]{2}-"},
}


async def asked(
    session: SessionDep,
    runtime: RuntimeDep,
    location_id: uuid.UUID,
    first: Annotated[
        Day, Query(alias="from", description="the first day, at the location", **_DAY)
    ],
    last: Annotated[
        Day, Query(alias="to", description="the last day (included), at most 366 days on", **_DAY)
    ],
) -> Asked:
    """The location (404 when unknown) and the period (422 when it is backwards or longer
    than a year)."""
    period = Period(first, last)
    why = period.refusal()
    if why is not None:
        raise Unprocessable(why)
    where = await queries.place(session, location_id)
    return Asked(where, period, runtime.clock.now(), runtime.settings)


AskedDep = Annotated[Asked, Depends(asked)]


def about(of: Asked) -> dict[str, Any]:
    """What every report says first: where, when, and as of when."""
    return {
        "location_id": of.place.id,
        "location_name": of.place.name,
        "period": PeriodOut(**{"from": of.period.first, "to": of.period.last}),
        "computed_at": of.now,
    }


FormatQuery = Annotated[
    ReportFormat | None,
    Query(alias="format", description="json or csv; when absent, the Accept header decides"),
]


# The figures.


async def adherence_of(session: AsyncSession, of: Asked) -> AdherenceOut:
    span = of.period.span(of.place.time_zone)
    sessions = await queries.session_outcomes(session, of.place, span)
    windows = await queries.open_windows_ending(session, of.place, of.period.first, of.period.last)
    closed = [i for i, latest in windows if reports.window_closed(latest, today=of.today)]
    plans = await queries.plan_outcomes(session, of.place, span)
    lines = reports.adherence(sessions, closed, plans)
    return AdherenceOut(
        **about(of),
        indications=[AdherenceLineOut.of(line) for line in lines],
        total=AdherenceLineOut.of(reports.adherence_total(lines)),
    )


async def attendance_of(session: AsyncSession, of: Asked) -> AttendanceOut:
    span = of.period.span(of.place.time_zone)
    hours = of.settings.patient_change_cutoff_hours
    seen = reports.attendance(
        await queries.visits(session, of.place, span), cutoff=timedelta(hours=hours), now=of.now
    )
    return AttendanceOut(
        **about(of), appointments_booked=seen.booked, attended=seen.attended,
        no_shows=seen.no_shows, unmarked=seen.unmarked, no_show_rate=seen.no_show_rate,
        cancelled=seen.cancelled, late_cancels=seen.late_cancels,
        late_cancel_rate=seen.late_cancel_rate, late_cancel_cutoff_hours=hours,
    )  # fmt: skip


async def utilisation_of(session: AsyncSession, of: Asked) -> UtilisationOut:
    zone = of.place.time_zone
    span = of.period.span(zone)
    doctors = await queries.practitioners(session, of.place)
    rooms = await queries.rooms(session, of.place)
    clinic = await store.load_clinic(
        session, location=LocationInfo(of.place.id, zone), practitioner_ids=queries.ids(doctors),
        room_ids=queries.ids(rooms), span=span, with_taken=False,
    )  # fmt: skip
    booked = await queries.booked_time(session, of.place, span)

    def usage(
        kind: ResourceKind, lines: Sequence[queries.ResourceLine], of_kind: Sequence[Any]
    ) -> list[reports.Usage]:
        return [
            reports.usage(kind, resource, line.name, booked=booked.get(line.id, []), span=span,
                          time_zone=zone)
            for line, resource in zip(lines, of_kind, strict=True)
        ]  # fmt: skip

    by_doctor = usage(ResourceKind.PRACTITIONER, doctors, clinic.practitioners)
    by_room = usage(ResourceKind.ROOM, rooms, clinic.rooms)
    return UtilisationOut(
        **about(of),
        practitioners=[UsageOut.of(u) for u in by_doctor],
        rooms=[UsageOut.of(u) for u in by_room],
        all_practitioners=UsageOut.of(
            reports.usage_total(ResourceKind.PRACTITIONER, "All practitioners", by_doctor)
        ),
        all_rooms=UsageOut.of(reports.usage_total(ResourceKind.ROOM, "All rooms", by_room)),
    )


async def sms_of(session: AsyncSession, of: Asked) -> SmsOut:
    span = of.period.span(of.place.time_zone)
    messages = await queries.messages(session, of.place, span)
    asked_about = {
        m.appointment_id
        for m in messages
        if m.kind is MessageKind.CONFIRMATION and m.appointment_id is not None
    }
    replies = reports.confirmation_replies(
        messages,
        await queries.confirmations_of(session, asked_about),
        await queries.replies_to(session, asked_about),
    )
    return SmsOut(
        **about(of),
        kinds=[
            SmsKindOut(
                kind=line.kind,
                sent=line.sent,
                delivered=line.delivered,
                failed=line.failed,
                in_doubt=line.in_doubt,
                not_sent=line.not_sent,
            )
            for line in reports.sms_by_kind(messages)
        ],
        confirmation_replies=ConfirmationRepliesOut(
            delivered=replies.delivered, answered=replies.answered, reply_rate=replies.reply_rate
        ),
    )


async def offers_of(session: AsyncSession, of: Asked) -> OffersOut:
    span = of.period.span(of.place.time_zone)
    summary = reports.offer_summary(await queries.offers(session, of.place, span))
    return OffersOut(
        **about(of),
        freed_slots_offered=summary.freed_slots_offered,
        freed_slots_claimed=summary.freed_slots_claimed,
        fill_rate=summary.fill_rate,
        offers_made=summary.offers_made,
        offers=OfferCountsOut(**{status.value: n for status, n in summary.offers.items()}),
    )


# The routes: every one takes location_id, from, to and format.


@router.get("/adherence", response_model=AdherenceOut, responses=documented("Course adherence"))
async def adherence(
    _: DeskDep, request: Request, session: SessionDep, of: AskedDep, format_: FormatQuery = None
) -> Response:
    """Course adherence per indication: sessions completed on time, early or late against
    their window, missed (no-shows, windows closed unbooked), plans completed or dropped."""
    out = await adherence_of(session, of)
    return answer(request, format_, ReportName.ADHERENCE, out)


@router.get("/attendance", response_model=AttendanceOut, responses=documented("Attendance"))
async def attendance(
    _: DeskDep, request: Request, session: SessionDep, of: AskedDep, format_: FormatQuery = None
) -> Response:
    """No-shows among the appointments that came due, and cancellations within the
    clinic's change cut-off (``BOOKING_PATIENT_CHANGE_CUTOFF_HOURS``) among those booked."""
    out = await attendance_of(session, of)
    return answer(request, format_, ReportName.ATTENDANCE, out)


@router.get("/utilisation", response_model=UtilisationOut, responses=documented("Utilisation"))
async def utilisation(
    _: DeskDep, request: Request, session: SessionDep, of: AskedDep, format_: FormatQuery = None
) -> Response:
    """Each practitioner's and room's booked minutes over their open minutes (weekly
    hours less time off and closures)."""
    out = await utilisation_of(session, of)
    return answer(request, format_, ReportName.UTILISATION, out)


@router.get("/sms", response_model=SmsOut, responses=documented("SMS"))
async def sms(
    _: DeskDep, request: Request, session: SessionDep, of: AskedDep, format_: FormatQuery = None
) -> Response:
    """SMS sent, delivered and failed per kind, and the confirmations a "C" answered."""
    out = await sms_of(session, of)
    return answer(request, format_, ReportName.SMS, out)


@router.get("/offers", response_model=OffersOut, responses=documented("Earlier-slot offers"))
async def offers(
    _: DeskDep, request: Request, session: SessionDep, of: AskedDep, format_: FormatQuery = None
) -> Response:
    """The waitlist's fill rate: freed slots a patient claimed through an offer, of the
    freed slots offered; and the offers made, by how they ended."""
    out = await offers_of(session, of)
    return answer(request, format_, ReportName.OFFERS, out)
