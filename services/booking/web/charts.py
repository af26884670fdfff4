"""The Reports page's charts, drawn here as SVG from the reports' figures: no chart
library, nothing to vendor, and the page's strict Content-Security-Policy holds (colours
are presentation attributes, never inline styles).

Every chart is rows of horizontal bars: a label on the left, the bar (its parts side by
side, or a share of a full track for a rate), and the figures in words on the right, so
nothing is told by colour alone. The ``svg`` is an image with a title and a description
listing every figure, for screen readers; its ids start with its report's name, so the
five charts can share one page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from booking.api.report_answers import (
    AdherenceOut,
    AttendanceOut,
    OffersOut,
    ReportOut,
    SmsOut,
    UsageOut,
    UtilisationOut,
)

#: The pages' palette (web.css): each has at least 3:1 against white, as WCAG asks of
#: the parts of a graphic.
OK, WARN, BAD, BRAND, MUTED = "#1c6b34", "#7a4b00", "#a4161a", "#0b57a4", "#4a5563"
INK, TRACK = "#1b1f24", "#e3e8ee"
WIDTH, LABEL_END, BAR_X, BAR_WIDTH, ROW, LEGEND = 880, 176, 186, 290, 30, 30
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="13"'


@dataclass(frozen=True)
class Part:
    name: str
    value: float
    colour: str


@dataclass(frozen=True)
class Row:
    label: str
    #: Side by side, each as wide as its value over the chart's scale.
    parts: Sequence[Part] = ()
    #: The figures in words.
    caption: str = ""
    #: A rate (0 to 1) drawn on a full track, instead of parts.
    rate: float | None = None
    colour: str = BRAND
    #: A group's title: bold, no bar.
    heading: bool = False


def percent(rate: float | None) -> str:
    if rate is None:
        return "n/a"
    shown = rate * 100
    return f"{shown:.0f}%" if shown >= 10 or shown == 0 else f"{shown:.1f}%"


def _text(x: float, y: float, text: str, *, anchor: str = "start", bold: bool = False) -> str:
    weight = ' font-weight="700"' if bold else ""
    return (
        f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}" fill="{INK}"{weight}>'
        f"{escape(text)}</text>"
    )


def _rect(x: float, y: float, width: float, colour: str, name: str = "") -> str:
    title = f"<title>{escape(name)}</title>" if name else ""
    return (
        f'<rect x="{x:.1f}" y="{y:g}" width="{max(width, 0):.1f}" height="18" rx="3" '
        f'fill="{colour}">{title}</rect>'
    )


def _shorten(label: str, most: int = 26) -> str:
    return label if len(label) <= most else label[: most - 1] + "\u2026"


def bar_chart(
    name: str,
    *,
    title: str,
    rows: Sequence[Row],
    legend: Sequence[Part] = (),
    empty: str = "Nothing in this period.",
) -> str:
    """The chart ``name`` (its ids' prefix): ``rows`` of bars, the parts' widths scaled
    to the widest row."""
    if not rows:
        rows = [Row(empty)]
    scale = max((sum(p.value for p in row.parts) for row in rows), default=0) or 1
    top = LEGEND if legend else 6
    height = top + ROW * len(rows) + 6
    body: list[str] = []
    x = 8.0
    for part in legend:
        body.append(_rect(x, 6, 14, part.colour))
        body.append(_text(x + 20, 20, part.name))
        x += 34 + 7.5 * len(part.name)
    for index, row in enumerate(rows):
        y = top + ROW * index
        if row.heading:
            body.append(_text(8, y + 14, row.label, bold=True))
            continue
        body.append(_text(LABEL_END, y + 14, _shorten(row.label), anchor="end"))
        if row.rate is not None:
            body.append(_rect(BAR_X, y, BAR_WIDTH, TRACK))
            body.append(_rect(BAR_X, y, BAR_WIDTH * min(row.rate, 1), row.colour))
        start = float(BAR_X)
        for part in row.parts:
            width = BAR_WIDTH * part.value / scale
            if width > 0:
                body.append(_rect(start, y, width, part.colour, f"{part.name}: {part.value:g}"))
                start += width
        body.append(_text(BAR_X + BAR_WIDTH + 10, y + 14, row.caption))
    described = "; ".join(
        f"{row.label}: {row.caption}" if row.caption else row.label for row in rows
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" '
        f'aria-labelledby="{name}-title {name}-desc" {FONT}>'
        f'<title id="{name}-title">{escape(title)}</title>'
        f'<desc id="{name}-desc">{escape(described)}</desc>' + "".join(body) + "</svg>"
    )


def _period(out: ReportOut) -> str:
    return f"{out.location_name}, {out.period.first} to {out.period.last}"


def _said(indication: str) -> str:
    """``weight_loss`` as people say it: "Weight loss"."""
    return indication.replace("_", " ").capitalize()


def adherence_chart(out: AdherenceOut) -> str:
    rows: list[Row] = []
    for line in out.indications:
        early = f", {line.completed_early} early" if line.completed_early else ""
        rows.append(
            Row(
                _said(line.indication),
                [Part("On time", line.completed_on_time, OK),
                 Part("Early", line.completed_early, BRAND),
                 Part("Late", line.completed_late, WARN), Part("Missed", line.missed, BAD)],
                f"{line.completed_on_time} on time{early}, {line.completed_late} late, "
                f"{line.missed} missed",
            )
        )  # fmt: skip
        if line.plans_completed or line.plans_dropped:
            rows.append(
                Row(
                    f"{_said(line.indication)} plans",
                    [Part("Plans completed", line.plans_completed, OK),
                     Part("Plans dropped", line.plans_dropped, BAD)],
                    f"{line.plans_completed} completed, {line.plans_dropped} dropped",
                )
            )  # fmt: skip
    return bar_chart(
        "adherence",
        title=f"Course adherence per indication: {_period(out)}",
        rows=rows,
        legend=[Part("On time", 1, OK), Part("Early", 1, BRAND), Part("Late", 1, WARN),
                Part("Missed", 1, BAD)],
        empty="No session came due and no plan ended in this period.",
    )  # fmt: skip


def attendance_chart(out: AttendanceOut) -> str:
    due = out.attended + out.no_shows
    rows = [
        Row("No-shows", rate=out.no_show_rate or 0, colour=BAD,
            caption=f"{percent(out.no_show_rate)} ({out.no_shows} of {due} that came due)"),
        Row("Late cancellations", rate=out.late_cancel_rate or 0, colour=WARN,
            caption=f"{percent(out.late_cancel_rate)} ({out.late_cancels} of "
            f"{out.appointments_booked} booked)"),
    ]  # fmt: skip
    if out.unmarked:
        rows.append(Row("Not marked yet", caption=f"{out.unmarked} passed, neither in nor no-show"))
    return bar_chart(
        "attendance", title=f"No-shows and late cancellations: {_period(out)}", rows=rows
    )


def _usage_row(usage: UsageOut) -> Row:
    return Row(
        usage.name, rate=usage.utilisation or 0, colour=BRAND,
        caption=f"{percent(usage.utilisation)} ({usage.booked_minutes} of "
        f"{usage.open_minutes} min)",
    )  # fmt: skip


def utilisation_chart(out: UtilisationOut) -> str:
    rows = [
        Row("Practitioners", heading=True),
        *(_usage_row(u) for u in (*out.practitioners, out.all_practitioners)),
        Row("Rooms", heading=True),
        *(_usage_row(u) for u in (*out.rooms, out.all_rooms)),
    ]
    return bar_chart("utilisation", title=f"Booked over open time: {_period(out)}", rows=rows)


def sms_chart(out: SmsOut) -> str:
    rows: list[Row] = []
    for line in out.kinds:
        waiting = line.sent - line.delivered - line.failed - line.in_doubt
        more = ((line.in_doubt, "in doubt"), (line.not_sent, "not sent"))
        extra = "".join(f", {n} {what}" for n, what in more if n)
        rows.append(
            Row(
                _said(line.kind),
                [Part("Delivered", line.delivered, OK), Part("Failed", line.failed, BAD),
                 Part("In doubt", line.in_doubt, WARN), Part("Awaiting receipt", waiting, MUTED)],
                f"{line.sent} sent, {line.delivered} delivered, {line.failed} failed{extra}",
            )
        )  # fmt: skip
    replies = out.confirmation_replies
    rows.append(
        Row("Replies to confirmations", rate=replies.reply_rate or 0, colour=BRAND,
            caption=f"{percent(replies.reply_rate)} answered C ({replies.answered} of "
            f"{replies.delivered} delivered)")
    )  # fmt: skip
    return bar_chart(
        "sms",
        title=f"SMS per kind: {_period(out)}",
        rows=rows,
        legend=[Part("Delivered", 1, OK), Part("Failed", 1, BAD), Part("In doubt", 1, WARN),
                Part("Awaiting receipt", 1, MUTED)],
    )  # fmt: skip


def offers_chart(out: OffersOut) -> str:
    counts = out.offers
    ended = ", ".join(
        f"{n} {what}" for what, n in counts.model_dump().items() if n
    ) or "none"  # fmt: skip
    rows = [
        Row("Freed slots filled", rate=out.fill_rate or 0, colour=OK,
            caption=f"{percent(out.fill_rate)} ({out.freed_slots_claimed} of "
            f"{out.freed_slots_offered} offered)"),
        Row("Offers made",
            [Part("Claimed", counts.claimed, OK), Part("Declined", counts.declined, WARN),
             Part("Expired", counts.expired, MUTED), Part("Withdrawn", counts.withdrawn, BAD),
             Part("Live", counts.live, BRAND)],
            f"{out.offers_made} made: {ended}"),
    ]  # fmt: skip
    return bar_chart(
        "offers",
        title=f"Earlier-slot offers (the waitlist): {_period(out)}",
        rows=rows,
        legend=[Part("Claimed", 1, OK), Part("Declined", 1, WARN), Part("Expired", 1, MUTED),
                Part("Withdrawn", 1, BAD), Part("Live", 1, BRAND)],
    )  # fmt: skip
