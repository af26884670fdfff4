"""Twilio's list envelope and page tokens for ``GET Messages.json``.

Pages are newest first. ``next_page_uri`` carries ``PageToken=PA<sid>`` (continue after
that message) and ``previous_page_uri`` ``PageToken=PB<sid>`` (the page before it), the
scheme Twilio uses, so paging stays stable while new messages arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from twilio_sandbox.resources import Message
from twilio_sandbox.validation import ListQuery


def _window(messages: Sequence[Message], query: ListQuery) -> tuple[int, int]:
    """Start and stop indices of the requested page within ``messages``."""
    size = query.page_size
    token = query.page_token
    if token is None:
        start = query.page * size
        return start, start + size
    direction, sid = token[:2], token[2:]
    index = next((i for i, m in enumerate(messages) if m.sid == sid), None)
    if index is None or direction not in {"PA", "PB"}:
        # Unknown token (e.g. the sandbox was reset): an empty page ends the iteration.
        return len(messages), len(messages)
    if direction == "PA":
        return index + 1, index + 1 + size
    return max(0, index - size), index


def build_page(messages: Sequence[Message], query: ListQuery, list_uri: str) -> dict[str, object]:
    """The JSON Twilio returns for one page of the (already filtered) ``messages``."""
    start, stop = _window(messages, query)
    items = list(messages[start:stop])

    def page_uri(page: int, token: str | None) -> str:
        params = [*query.filter_params, ("PageSize", str(query.page_size)), ("Page", str(page))]
        if token is not None:
            params.append(("PageToken", token))
        return f"{list_uri}?{urlencode(params)}"

    has_next = bool(items) and stop < len(messages)
    has_previous = bool(items) and start > 0
    return {
        "messages": [message.to_resource() for message in items],
        "page": query.page,
        "page_size": query.page_size,
        "start": start,
        "end": start + max(len(items) - 1, 0),
        "uri": page_uri(query.page, query.page_token),
        "first_page_uri": page_uri(0, None),
        "next_page_uri": page_uri(query.page + 1, "PA" + items[-1].sid) if has_next else None,
        "previous_page_uri": (
            page_uri(max(query.page - 1, 0), "PB" + items[0].sid) if has_previous else None
        ),
    }
