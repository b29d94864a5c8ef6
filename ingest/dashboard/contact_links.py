"""Linking a client's e-mail address and phone number from the workspace
(``/dashboard/contacts/link``): the form of ``POST /api/v1/contacts/links``, the same service
behind it (ingest/inquiries/contact_links.py), audited as ``contact.link``. The page also lists
the links the service suggests (ingest/inquiries/link_suggestions.py), each to accept (linked
and audited alike) or dismiss (``contact.link_dismiss``), as ``/api/v1/contacts/link-suggestions``."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlmodel import Session

from ingest.api.schemas import MAX_ID
from ingest.dashboard.deps import (
    VIA,
    Dashboard,
    DashboardContext,
    Form,
    User,
    page,
    problem,
    staff_sender,
    staff_viewer,
)
from ingest.dashboard.labels import N_
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit
from ingest.inquiries import link_suggestions as suggestions
from ingest.inquiries.contact_links import Linked, LinkError, link_contact
from ingest.inquiries.link_suggestions import SuggestionGone
from storage.db import transaction

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@router.get("/contacts/link")
def link_form(request: Request, dash: Dashboard) -> Response:
    now = dash.ctx.clock()
    with transaction(dash.ctx.sessions) as session:
        user = staff_viewer(dash, request, session)
        if isinstance(user, Response):
            return user
        return _page(dash, session, user, now)


@router.post("/contacts/link")
def link(request: Request, dash: Dashboard, form: Form) -> Response:
    now = dash.ctx.clock()
    with transaction(dash.ctx.sessions) as session:
        user = staff_sender(dash, request, session, form)
        if isinstance(user, Response):
            return user
        email, phone = form.get("email", "").strip()[:320], form.get("phone", "").strip()[:32]
        try:
            linked = link_contact(session, email=email, phone=phone)
        except LinkError as exc:
            why = N_("The e-mail address is not valid.") if str(exc).startswith("email") else None
            return problem(dash, 422, why or N_("The phone number is not valid."), user)
        _audit_link(session, user, linked, now)
        return _page(dash, session, user, now, linked=linked)


@router.post("/contacts/link-suggestions/{suggestion_id}/{decision}")
def decide(
    request: Request,
    dash: Dashboard,
    form: Form,
    suggestion_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    decision: str,
) -> Response:
    now = dash.ctx.clock()
    with transaction(dash.ctx.sessions) as session:
        user = staff_sender(dash, request, session, form)
        if isinstance(user, Response):
            return user
        if decision not in ("accept", "dismiss"):
            return problem(dash, 404, N_("No such suggestion that you may see."), user)
        principal = user.principal
        try:
            if decision == "accept":
                linked = suggestions.accept(session, suggestion_id=suggestion_id, principal=principal, now=now)
                _audit_link(session, user, linked, now, suggestion_id=suggestion_id)
                return _page(dash, session, user, now, linked=linked)
            shown = suggestions.dismiss(session, suggestion_id=suggestion_id, principal=principal, now=now)
        except SuggestionGone:
            return problem(dash, 404, N_("No such suggestion that you may see, or it was decided already."), user)
        audit.record(session, principal=principal, action="contact.link_dismiss", now=now, detail={
            **VIA, "suggestion_id": suggestion_id, "email_contact_id": shown.email_contact.id,
            "phone_contact_id": shown.phone_contact.id,
        })  # fmt: skip
        return _page(dash, session, user, now, dismissed=True)


def _audit_link(session: Session, user: User, linked: Linked, now: datetime, suggestion_id: int | None = None) -> None:
    contact = linked.contact
    from_suggestion = {"suggestion_id": suggestion_id} if suggestion_id is not None else {}
    audit.record(session, principal=user.principal, action="contact.link", now=now, detail={
        **VIA, "contact_id": contact.id, "merged_contact_id": linked.merged_contact_id,
        "moved_inquiries": linked.moved_inquiries, **from_suggestion,
    })  # fmt: skip


def _page(
    dash: DashboardContext,
    session: Session,
    user: User,
    now: datetime,
    *,
    linked: Linked | None = None,
    dismissed: bool = False,
) -> Response:
    """The form, what was just done, and the open suggestions (a read of clients' data: audited)."""
    shown = suggestions.open_suggestions(session, user.principal)
    audit.record(session, principal=user.principal, action="contact.link_suggestions", now=now,
                 detail={**VIA, "suggestion_ids": [s.suggestion.id for s in shown]})  # fmt: skip
    done: dict[str, Any] | None = None
    if linked is not None:
        done = {"email": linked.contact.email, "phone": linked.contact.phone}
    return page(dash, "contact_link.html", user=user, csrf=user.session.csrf_token, linked=done,
                dismissed=dismissed, suggestions=shown)  # fmt: skip
