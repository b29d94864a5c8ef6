"""Linking a client's e-mail address and phone number from the workspace
(``/dashboard/contacts/link``): the form of ``POST /api/v1/contacts/links``, the same service
behind it (ingest/inquiries/contact_links.py), audited as ``contact.link``."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ingest.dashboard.deps import (
    VIA,
    Dashboard,
    Form,
    page,
    problem,
    staff_sender,
    staff_viewer,
)
from ingest.dashboard.labels import N_
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit
from ingest.inquiries.contact_links import LinkError, link_contact
from storage.db import transaction

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@router.get("/contacts/link")
def link_form(request: Request, dash: Dashboard) -> Response:
    with transaction(dash.ctx.sessions) as session:
        user = staff_viewer(dash, request, session)
        if isinstance(user, Response):
            return user
    return page(dash, "contact_link.html", user=user, csrf=user.session.csrf_token, linked=None)


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
        contact = linked.contact
        audit.record(session, principal=user.principal, action="contact.link", now=now, detail={
            **VIA, "contact_id": contact.id, "merged_contact_id": linked.merged_contact_id,
            "moved_inquiries": linked.moved_inquiries,
        })  # fmt: skip
        shown = {"email": contact.email, "phone": contact.phone}
        return page(dash, "contact_link.html", user=user, csrf=user.session.csrf_token, linked=shown)
