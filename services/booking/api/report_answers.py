"""What the staff reports answer (api/reports.py): their JSON models, the same figures
as CSV (one header line, then a line per indication, resource or kind; RFC 4180), and
which of the two a request gets.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from booking.domain import reports
from booking.domain.reports import ResourceKind
from shared.problems import problems


class ReportName(StrEnum):
    ADHERENCE = "adherence"
    ATTENDANCE = "attendance"
    UTILISATION = "utilisation"
    SMS = "sms"
    OFFERS = "offers"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from")
    last: date = Field(alias="to")


class ReportOut(BaseModel):
    location_id: uuid.UUID
    location_name: str
    period: PeriodOut
    #: The service's clock when the figures were computed ("today" for closed windows).
    computed_at: datetime


class AdherenceLineOut(BaseModel):
    indication: str
    completed_on_time: int
    completed_early: int
    completed_late: int
    completed: int
    no_shows: int
    windows_closed_unbooked: int
    missed: int
    plans_completed: int
    plans_dropped: int

    @classmethod
    def of(cls, line: reports.AdherenceLine) -> AdherenceLineOut:
        return cls(
            indication=line.indication, completed_on_time=line.on_time,
            completed_early=line.early, completed_late=line.late, completed=line.completed,
            no_shows=line.no_shows, windows_closed_unbooked=line.unbooked, missed=line.missed,
            plans_completed=line.plans_completed, plans_dropped=line.plans_dropped,
        )  # fmt: skip


class AdherenceOut(ReportOut):
    indications: list[AdherenceLineOut]
    total: AdherenceLineOut


class AttendanceOut(ReportOut):
    appointments_booked: int
    attended: int
    no_shows: int
    unmarked: int
    no_show_rate: float | None
    cancelled: int
    late_cancels: int
    late_cancel_rate: float | None
    late_cancel_cutoff_hours: int


class UsageOut(BaseModel):
    kind: ResourceKind
    #: None on the line of every practitioner (or room) together.
    id: uuid.UUID | None
    name: str
    open_minutes: int
    booked_minutes: int
    utilisation: float | None

    @classmethod
    def of(cls, usage: reports.Usage) -> UsageOut:
        return cls(
            kind=usage.kind, id=usage.id, name=usage.name, open_minutes=usage.open_minutes,
            booked_minutes=usage.booked_minutes, utilisation=usage.utilisation,
        )  # fmt: skip


class UtilisationOut(ReportOut):
    practitioners: list[UsageOut]
    rooms: list[UsageOut]
    all_practitioners: UsageOut
    all_rooms: UsageOut


class SmsKindOut(BaseModel):
    kind: str
    sent: int
    delivered: int
    failed: int
    in_doubt: int
    not_sent: int


class ConfirmationRepliesOut(BaseModel):
    delivered: int
    answered: int
    reply_rate: float | None


class SmsOut(ReportOut):
    kinds: list[SmsKindOut]
    confirmation_replies: ConfirmationRepliesOut


class OfferCountsOut(BaseModel):
    live: int
    claimed: int
    declined: int
    expired: int
    withdrawn: int


class OffersOut(ReportOut):
    freed_slots_offered: int
    freed_slots_claimed: int
    fill_rate: float | None
    offers_made: int
    offers: OfferCountsOut


# CSV: one header line, then a line per indication, resource or kind (RFC 4180).

Table = tuple[list[str], list[list[object]]]


def adherence_table(out: AdherenceOut) -> Table:
    header = list(AdherenceLineOut.model_fields)
    lines = [*out.indications, out.total]
    return header, [[getattr(line, f) for f in header] for line in lines]


def attendance_table(out: AttendanceOut) -> Table:
    header = [f for f in AttendanceOut.model_fields if f not in ReportOut.model_fields]
    return header, [[getattr(out, f) for f in header]]


def utilisation_table(out: UtilisationOut) -> Table:
    header = list(UsageOut.model_fields)
    lines = [*out.practitioners, out.all_practitioners, *out.rooms, out.all_rooms]
    return header, [[getattr(line, f) for f in header] for line in lines]


def sms_table(out: SmsOut) -> Table:
    """A line per kind; the confirmation line also says how many a "C" answered."""
    header = [*SmsKindOut.model_fields, "answered", "reply_rate"]
    replies = out.confirmation_replies
    rows: list[list[object]] = []
    for line in out.kinds:
        answers = [replies.answered, replies.reply_rate] if line.kind == "confirmation" else []
        rows.append([*line.model_dump().values(), *(answers or [None, None])])
    return header, rows


def offers_table(out: OffersOut) -> Table:
    header = ["freed_slots_offered", "freed_slots_claimed", "fill_rate", "offers_made",
              *(f"offers_{status}" for status in OfferCountsOut.model_fields)]  # fmt: skip
    values = [out.freed_slots_offered, out.freed_slots_claimed, out.fill_rate, out.offers_made,
              *out.offers.model_dump().values()]  # fmt: skip
    return header, [values]


#: How each report is written as CSV.
TABLES: dict[ReportName, Callable[[Any], Table]] = {
    ReportName.ADHERENCE: adherence_table,
    ReportName.ATTENDANCE: attendance_table,
    ReportName.UTILISATION: utilisation_table,
    ReportName.SMS: sms_table,
    ReportName.OFFERS: offers_table,
}


#: A spreadsheet would run a cell starting so as a formula (a name typed "=..." by staff).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return f"'{text}" if isinstance(value, str) and text.startswith(_FORMULA) else text


def csv_text(table: Table) -> str:
    header, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def filename(name: ReportName, out: ReportOut, extension: str) -> str:
    """``mesocycle-adherence-paris-2026-06-01-to-2026-06-30.csv``: ASCII only."""
    folded = unicodedata.normalize("NFKD", out.location_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:40].strip("-") or "location"
    return f"mesocycle-{name}-{slug}-{out.period.first}-to-{out.period.last}.{extension}"


CSV_MEDIA_TYPE = "text/csv; charset=utf-8; header=present"


def preferred_format(accept: str | None) -> ReportFormat:
    """What an Accept header prefers of JSON and CSV: the highest q, the first on a tie;
    JSON when it names neither (a client that accepts nothing we make still gets JSON)."""
    chosen, best = ReportFormat.JSON, 0.0
    for part in (accept or "").split(","):
        media, *parameters = (piece.strip().lower() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            if parameter.startswith("q="):
                try:
                    quality = float(parameter[2:])
                except ValueError:
                    quality = 0.0
        kind = {"text/csv": ReportFormat.CSV, "text/*": ReportFormat.CSV}.get(media)
        if kind is None and media in ("application/json", "application/*", "*/*"):
            kind = ReportFormat.JSON
        if kind is not None and quality > best:
            chosen, best = kind, quality
    return chosen


def answer(
    request: Request, asked_for: ReportFormat | None, name: ReportName, out: ReportOut
) -> Response:
    """The report as JSON, or as CSV (``asked_for``, else the Accept header); it varies
    with Accept."""
    chosen = asked_for or preferred_format(request.headers.get("accept"))
    headers = {"Vary": "Accept"}
    if chosen is ReportFormat.CSV:
        headers["Content-Disposition"] = f'attachment; filename="{filename(name, out, "csv")}"'
        return Response(csv_text(TABLES[name](out)), media_type=CSV_MEDIA_TYPE, headers=headers)
    return JSONResponse(out.model_dump(mode="json", by_alias=True), headers=headers)


def documented(what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of a report: JSON or CSV, and 404 for an unknown location."""
    csv_answer = {"schema": {"type": "string", "description": f"{what}, as CSV"}}
    disposition = {
        "description": 'with CSV: attachment; filename="mesocycle-<report>-<location>-'
        '<from>-to-<to>.csv"',
        "schema": {"type": "string"},
    }
    return {
        200: {
            "description": what,
            "content": {"text/csv": csv_answer},
            "headers": {"Content-Disposition": disposition},
        },
        **problems(404),
    }
