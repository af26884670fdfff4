"""The clinic's message policy and SMS templates: staff read them, admins change them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from notify.api.deps import RuntimeDep, SessionDep
from notify.api.schemas import TemplateIn, TemplateOut, TemplateSaved
from notify.domain.policy import MessagePolicy
from notify.domain.templates.defaults import DEFAULT_TEMPLATES
from notify.use_cases import clinic_policy
from shared.api import AdminDep, StaffDep
from shared.contracts.notify import MessageKind

router = APIRouter(prefix="/v1", tags=["policy"])

Language = Annotated[str, Path(pattern=r"^[a-z]{2}$", description="ISO 639-1, e.g. fr")]


@router.get("/policy")
async def get_policy(session: SessionDep, _: StaffDep) -> MessagePolicy:
    """The message policy in force (the defaults until an admin saves one)."""
    return await clinic_policy.load_policy(session)


@router.put("/policy")
async def put_policy(policy: MessagePolicy, runtime: RuntimeDep, admin: AdminDep) -> MessagePolicy:
    """Replace the policy; refused (422) when a template no longer renders under it.

    Messages planned from now on follow it; the ``replan`` worker then re-plans the
    pending messages of upcoming appointments under it, in batches, within seconds.
    """
    settings = runtime.settings
    async with runtime.sessions.begin() as session:
        return await clinic_policy.save_policy(
            session,
            policy=policy,
            clinic=settings.clinic_name,
            by=admin.subject,
            now=runtime.clock.now(),
        )


@router.get("/templates")
async def list_templates(session: SessionDep, _: StaffDep) -> list[TemplateOut]:
    """Every SMS text in force, per language and kind."""
    book = await clinic_policy.load_templates(session)
    return [
        TemplateOut(
            language=language,
            kind=kind,
            body=body,
            customized=DEFAULT_TEMPLATES.get(language, {}).get(kind) != body,
        )
        for language, kinds in sorted(book.items())
        for kind, body in kinds.items()
    ]


@router.put("/templates/{language}/{kind}")
async def put_template(
    language: Language,
    kind: MessageKind,
    template: TemplateIn,
    runtime: RuntimeDep,
    admin: AdminDep,
) -> TemplateSaved:
    """Save the clinic's text for one kind of SMS in one language.

    Refused (422) with the reason when it does not render (syntax, an unknown name, the
    treatment without full_text) or renders past two SMS segments.
    """
    settings = runtime.settings
    async with runtime.sessions.begin() as session:
        sample = await clinic_policy.save_template(
            session,
            language=language,
            kind=kind,
            body=template.body,
            clinic=settings.clinic_name,
            by=admin.subject,
            now=runtime.clock.now(),
        )
    return TemplateSaved(
        language=language, kind=kind, body=template.body, customized=True, sample=sample
    )


@router.delete("/templates/{language}/{kind}", status_code=204)
async def reset_template(
    language: Language, kind: MessageKind, runtime: RuntimeDep, _: AdminDep
) -> Response:
    """Go back to the default text."""
    async with runtime.sessions.begin() as session:
        await clinic_policy.reset_template(session, language=language, kind=kind)
    return Response(status_code=204)
