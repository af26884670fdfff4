"""What a run leaves behind: ``report.json`` (everything) and ``report.html`` (a page with
a few plots: appointments per day, SMS per kind per day, consumer lag over time,
violations), drawn as inline SVG: no script, nothing fetched."""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def write(directory: Path, summary: Mapping[str, Any]) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = directory / "report.json"
    as_json.write_text(json.dumps(summary, indent=2, default=str))
    as_html = directory / "report.html"
    as_html.write_text(page(summary))
    return as_json, as_html


def page(summary: Mapping[str, Any]) -> str:
    figures = summary["figures"]
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in figures.items()
    )
    violations = summary["violations"]
    listed = "".join(
        f"<li><b>{html.escape(v['invariant'])}</b> {html.escape(v['detail'])} "
        f"<code>{html.escape(json.dumps(v['ids']))}</code> at {html.escape(v['at'])}</li>"
        for v in violations[:500]
    )
    appointments = _by_day(summary["appointments"], "day", "status")
    sms = _by_day(summary["sms"], "day", "kind")
    lag = [(s["at"][:16], max(s["lag"], 0)) for s in summary["steps"]]
    broken = [(s["at"][:16], s["violations"]) for s in summary["steps"]]
    return f"""<!doctype html>
<html lang="en"><meta charset="utf-8">
<title>mesocycle simulation, seed {summary["config"]["seed"]}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse}}
th,td{{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}}
svg{{background:#fafafa;border:1px solid #ddd}}.legend span{{margin-right:1em}}</style>
<h1>Clinic simulation: {"no violations" if not violations else f"{len(violations)} violations"}</h1>
<p>seed {summary["config"]["seed"]}, {summary["config"]["weeks"]} weeks from
{html.escape(summary["config"]["start"])}, faults {"on" if summary["config"]["faults"] else "off"};
wall-clock {summary["figures"]["wall_clock_seconds"]} s.</p>
<table>{rows}</table>
<h2>Appointments per day (by their status now)</h2>{_stacked(appointments)}
<h2>SMS per kind per day</h2>{_stacked(sms)}
<h2>Highest consumer lag seen in each step</h2>{_line(lag)}
<h2>Violations found so far</h2>{_line(broken)}
<h2>Violations</h2><ol>{listed or "<li>none</li>"}</ol>
</html>
"""


def _by_day(items: Sequence[Mapping[str, Any]], day: str, series: str) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        counts[item[day]][item[series]] += 1
    return dict(sorted(counts.items()))


def _stacked(counts: Mapping[str, Counter[str]], width: int = 1000, height: int = 220) -> str:
    if not counts:
        return "<p>nothing</p>"
    names = sorted({name for c in counts.values() for name in c})
    colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}
    top: float = max(sum(c.values()) for c in counts.values()) or 1
    bar = width / len(counts)
    shapes = []
    for i, (day, c) in enumerate(counts.items()):
        y = float(height)
        for name in names:
            h = c[name] / top * (height - 20)
            if h:
                y -= h
                shapes.append(
                    f'<rect x="{i * bar:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" '
                    f'height="{h:.1f}" fill="{colour[name]}">'
                    f"<title>{day} {name}: {c[name]}</title></rect>"
                )
    legend = "".join(
        f'<span style="color:{colour[n]}">&#9632; {html.escape(n)}</span>' for n in names
    )
    first, last = next(iter(counts)), list(counts)[-1]
    return (
        f'<svg width="{width}" height="{height}" role="img">{"".join(shapes)}'
        f'<text x="2" y="12">max {top}</text></svg>'
        f'<div class="legend">{legend} ({first} to {last})</div>'
    )


def _line(points: Sequence[tuple[str, int]], width: int = 1000, height: int = 160) -> str:
    if not points:
        return "<p>nothing</p>"
    top = max(v for _, v in points) or 1
    step = width / max(len(points) - 1, 1)
    path = " ".join(
        f"{i * step:.1f},{height - v / top * (height - 20):.1f}" for i, (_, v) in enumerate(points)
    )
    return (
        f'<svg width="{width}" height="{height}" role="img"><polyline fill="none" '
        f'stroke="#1f77b4" points="{path}"/><text x="2" y="12">max {top}</text></svg>'
        f"<div>{html.escape(points[0][0])} to {html.escape(points[-1][0])}</div>"
    )
