"""The staff's Reports page (``/board/reports``) and the charts it shows.

The page is a shell like the board: staff sign in (or come signed in from the board, the
token in this tab's sessionStorage), pick a location and a period, and reports.js asks
for each report's chart, drawn here as SVG (web/charts.py) from the same figures as the
reports API, and for its CSV.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from booking.api import reports
from booking.api.deps import SessionDep
from booking.api.report_answers import ReportName
from booking.api.reports import Asked, AskedDep
from booking.web import charts
from booking.web.pages import page
from shared.api import DeskDep
from shared.problems import problems

router = APIRouter(tags=["web pages"], include_in_schema=False)
api = APIRouter(prefix="/v1/board", tags=["staff board"])

#: The page's reports, in its order: what each is called and what it shows.
SHOWN = (
    (ReportName.ADHERENCE, "Course adherence",
     "Sessions done inside their window (on time) or after it (late), missed sessions "
     "(no-shows and windows that closed unbooked), and plans completed or dropped."),
    (ReportName.ATTENDANCE, "No-shows and late cancellations",
     "No-shows among the appointments that came due; cancellations within the change "
     "cut-off among the appointments booked."),
    (ReportName.UTILISATION, "Utilisation",
     "Booked minutes over open minutes (weekly hours less time off and closures)."),
    (ReportName.SMS, "SMS",
     "Messages sent, delivered and failed per kind, and the confirmations answered C."),
    (ReportName.OFFERS, "Earlier-slot offers",
     "Freed slots a patient claimed through an offer, of the freed slots offered."),
)  # fmt: skip

Figures = Callable[[AsyncSession, Asked], Awaitable[Any]]
#: How each report's figures are computed (as the API does) and drawn.
CHARTS: dict[ReportName, tuple[Figures, Callable[[Any], str]]] = {
    ReportName.ADHERENCE: (reports.adherence_of, charts.adherence_chart),
    ReportName.ATTENDANCE: (reports.attendance_of, charts.attendance_chart),
    ReportName.UTILISATION: (reports.utilisation_of, charts.utilisation_chart),
    ReportName.SMS: (reports.sms_of, charts.sms_chart),
    ReportName.OFFERS: (reports.offers_of, charts.offers_chart),
}


class SvgResponse(Response):
    media_type = "image/svg+xml"


@router.get("/board/reports", response_class=HTMLResponse)
async def reports_page() -> HTMLResponse:
    """The Reports page: sign in, then the charts are fetched with the staff token."""
    shown = [{"name": name.value, "title": title, "about": about} for name, title, about in SHOWN]
    return page("reports.html", {"reports": shown, "data": {"reports": [s["name"] for s in shown]}})


#: A chart is an SVG document; 404 for an unknown location.
CHART_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}},
    **problems(404),
}


@api.get("/reports/{report}/chart", response_class=SvgResponse, responses=CHART_ANSWERS)
async def report_chart(
    report: ReportName, _: DeskDep, session: SessionDep, of: AskedDep
) -> SvgResponse:
    """A report's figures as an SVG chart (an image with a title and a description that
    says every figure), for the Reports page."""
    figures, draw = CHARTS[report]
    drawn = draw(await figures(session, of))
    return SvgResponse(drawn, headers={"Cache-Control": "no-store"})
