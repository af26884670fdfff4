"""The clinic's message policy and templates: read (defaults when never saved) and update."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notify.adapters.db import PolicyDocument, TemplateOverride, outbox
from notify.domain.policy import DEFAULT_POLICY, MessagePolicy
from notify.domain.templates.render import TemplateBook, check_template, template_book
from notify.use_cases.deliveries import SOURCE
from shared.contracts.notify import MessageKind, QuietHoursChanged
from shared.db import upsert
from shared.events import new_event
from shared.outbox import add_events
from shared.problems import NotFound, Unprocessable

#: The key of the policy's events: one clinic, one ordered stream of its changes.
QUIET_HOURS_KEY = "message-policy"


async def load_policy(session: AsyncSession) -> MessagePolicy:
    """The policy in force: the saved one, else the defaults."""
    saved = await session.get(PolicyDocument, 1)
    if saved is None:
        return DEFAULT_POLICY
    return MessagePolicy.model_validate(saved.document)


async def load_policy_revision(session: AsyncSession) -> tuple[MessagePolicy, int]:
    """The policy in force and its revision (0: the defaults, never saved)."""
    saved = await session.get(PolicyDocument, 1)
    if saved is None:
        return DEFAULT_POLICY, 0
    return MessagePolicy.model_validate(saved.document), saved.revision


async def load_templates(session: AsyncSession) -> TemplateBook:
    """Every template in force: the defaults with the clinic's own laid over them."""
    rows = await session.execute(
        sa.select(TemplateOverride.language, TemplateOverride.kind, TemplateOverride.body)
    )
    return template_book({(language, kind): body for language, kind, body in rows.tuples()})


async def save_policy(
    session: AsyncSession, *, policy: MessagePolicy, clinic: str, by: str, now: datetime
) -> MessagePolicy:
    """Store a new policy, once every template still renders under it (privacy included).

    Saving bumps the policy's revision: the ``replan`` worker then plans the messages of
    every upcoming appointment again under it, batch by batch
    (:func:`notify.use_cases.policy_replanning.replan_under_new_policy`); its quiet hours
    go to booking (``QuietHoursChanged``), which makes no offer in them.
    """
    for language, kinds in (await load_templates(session)).items():
        for kind, source in kinds.items():
            _check(source, kind=kind, language=language, policy=policy, clinic=clinic)
    values = {"document": policy.model_dump(mode="json"), "updated_at": now, "updated_by": by}
    revision = await session.scalar(
        insert(PolicyDocument)
        .values(id=1, revision=1, **values)
        .on_conflict_do_update(
            index_elements=[PolicyDocument.id],
            set_={**values, "revision": PolicyDocument.revision + 1},
        )
        .returning(PolicyDocument.revision)
    )
    assert revision is not None
    changed = QuietHoursChanged(
        quiet_hours_start=policy.quiet_hours_start, quiet_hours_end=policy.quiet_hours_end,
        revision=revision, changed_at=now,
    )  # fmt: skip
    event = new_event(changed, source=SOURCE, key=QUIET_HOURS_KEY, now=now)
    await add_events(session, outbox, [event])
    return policy


async def save_template(
    session: AsyncSession,
    *,
    language: str,
    kind: MessageKind,
    body: str,
    clinic: str,
    by: str,
    now: datetime,
) -> str:
    """Store the clinic's text for ``kind`` in ``language``; returns a sample rendering.

    Refused (422) with the reason when it does not render or runs past two segments.
    """
    policy = await load_policy(session)
    sample = _check(body, kind=kind, language=language, policy=policy, clinic=clinic)
    await upsert(
        session,
        TemplateOverride,
        key={"language": language, "kind": kind.value},
        values={"body": body, "updated_at": now, "updated_by": by},
    )
    return sample


async def reset_template(session: AsyncSession, *, language: str, kind: MessageKind) -> None:
    """Drop the clinic's own text: the default applies again."""
    deleted = await session.execute(
        sa.delete(TemplateOverride)
        .where(TemplateOverride.language == language, TemplateOverride.kind == kind.value)
        .returning(TemplateOverride.kind)
    )
    if deleted.first() is None:
        raise NotFound(f"the clinic has no template of its own for {kind} in {language}")


def _check(
    source: str, *, kind: MessageKind, language: str, policy: MessagePolicy, clinic: str
) -> str:
    try:
        return check_template(source, kind=kind, policy=policy, clinic=clinic)
    except ValueError as error:
        raise Unprocessable(f"template {language}/{kind} is refused: {error}") from error
