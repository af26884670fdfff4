"""A plain server-rendered HTML page of the sandbox's messages, for humans in ``make dev``."""

from __future__ import annotations

from html import escape

from twilio_sandbox.resources import rfc2822
from twilio_sandbox.store import SandboxStore

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f4f4f4; }
td.body { white-space: pre-wrap; max-width: 40rem; }
.failed, .undelivered { color: #b00020; }
.delivered, .received { color: #1b5e20; }
code { font-size: 0.85rem; }
"""


def _cell(value: object, css_class: str = "") -> str:
    attribute = f' class="{escape(css_class)}"' if css_class else ""
    return f"<td{attribute}>{escape('' if value is None else str(value))}</td>"


def render_dashboard(store: SandboxStore) -> str:
    """The page: messages newest first, flagged numbers and pending faults."""
    rows = []
    for message in reversed(store.messages()):
        status = message.status.value
        error = (
            "" if message.error_code is None else f"{message.error_code} {message.error_message}"
        )
        rows.append(
            "<tr>"
            + _cell(rfc2822(message.date_created))
            + _cell(message.direction.value)
            + _cell(message.from_)
            + _cell(message.to)
            + _cell(status, status)
            + _cell(error)
            + _cell(message.num_segments)
            + _cell(message.body, "body")
            + f"<td><code>{escape(message.sid)}</code></td>"
            + "</tr>"
        )
    table = (
        "<table><thead><tr><th>created</th><th>direction</th><th>from</th><th>to</th>"
        "<th>status</th><th>error</th><th>segments</th><th>body</th><th>sid</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>No messages yet.</p>"
    )
    faults = ", ".join(f"{fault.kind.value} x{fault.remaining}" for fault in store.pending_faults())
    opted_out = ", ".join(sorted(store.opted_out)) or "none"
    undeliverable = ", ".join(sorted(store.undeliverable)) or "none"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        # Refresh so the page follows statuses as they progress.
        '<meta http-equiv="refresh" content="3">'
        "<title>Twilio sandbox</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Twilio sandbox</h1><p>Account <code>{escape(store.account_sid)}</code> &middot; "
        f"{len(store.messages())} message(s)</p>"
        f"<p>Opted out: {escape(opted_out)} &middot; Undeliverable: {escape(undeliverable)}"
        f" &middot; Pending faults: {escape(faults or 'none')}</p>"
        f"{table}</body></html>"
    )
