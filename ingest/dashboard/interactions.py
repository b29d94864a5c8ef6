"""Logging a phone call or a visit from the workspace (``/dashboard/interactions``, policy 6 and
10.2): the form of ``POST /api/v1/interactions``, the same service behind it. With ``?inquiry=REF``
(the link of a call-back task on the inquiry's page) it is logged on that inquiry instead
(ingest/inquiries/call_logging.py), and a phone call settles the call back."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

import dataclasses
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

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
from ingest.dashboard.inquiry_pages import load
from ingest.dashboard.labels import N_
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit
from ingest.inquiries.access import Action, can_act
from ingest.inquiries.call_logging import log_on_inquiry
from ingest.inquiries.errors import InquiryError
from ingest.inquiries.interactions import Interaction, Logged, log_interaction
from storage import merge_repo
from storage.db import transaction
from storage.models import Employee, Inquiry

CHANNELS = ("phone", "visit")

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@router.get("/interactions")
def interaction_form(
    request: Request, dash: Dashboard, inquiry: str | None = Query(default=None, max_length=40)
) -> Response:
    with transaction(dash.ctx.sessions) as session:
        user = staff_viewer(dash, request, session)
        if isinstance(user, Response):
            return user
        on = _target(dash, session, user, inquiry) if inquiry else None
        if isinstance(on, Response):
            return on
    return page(dash, "interaction.html", user=user, csrf=user.session.csrf_token, channels=CHANNELS,
                topics=dict(dash.ctx.notices.topic_names), on=on.reference if on else None)  # fmt: skip


def _target(dash: DashboardContext, session: Any, user: User, reference: str) -> Inquiry | Response:
    """The inquiry a call or visit is logged on (the one it was merged into, if it was, read under
    a row lock: storage/merge_repo.py): one the user may see and add a note to; else the page
    that says why not."""
    found = load(session, user, reference.strip())
    if found is None:
        return problem(dash, 404, N_("No such inquiry that you may see."), user)
    inquiry = merge_repo.locked_final(session, found)
    if not can_act(session, user.principal, inquiry, Action.NOTE):
        return problem(dash, 404, N_("No such inquiry that you may see."), user)
    return inquiry


def _entry(form: dict[str, str], now: datetime) -> Interaction | str:
    """The interaction the form describes, or why it cannot be taken (a catalog text)."""
    channel, text = form.get("channel", ""), form.get("text", "").replace("\x00", "").strip()
    phone, email = form.get("phone", "").strip()[:32], form.get("email", "").strip()[:320]
    if channel not in CHANNELS:
        return N_("Choose a call or a visit.")
    if not text:
        return N_("Write what the client asked about.")
    if not phone and not email and not form.get("inquiry"):  # on an inquiry, its client is known
        return N_("A phone number or an e-mail address is needed.")
    if email and ("@" not in email or any(c.isspace() for c in email)):
        return N_("The e-mail address is not valid.")
    return Interaction(
        channel=channel, text=text[:20_000], received_at=now, client_name=form.get("client_name", "").strip()[:200],
        email=email or None, phone=phone or None, topic=form.get("topic") or None,
        complexity="complex" if form.get("complexity") == "complex" else "simple",
        route=form.get("route") == "1", suggested_written=form.get("suggested_written") == "1",
    )  # fmt: skip


def _when(dash: DashboardContext, user: User, value: str, now: datetime) -> datetime | Response:
    """When the call or visit was (the form's local time in the office's zone; empty: now)."""
    value = value.strip()
    if not value:
        return now
    try:
        at = datetime.fromisoformat(value[:32])
    except ValueError:
        return problem(dash, 422, N_("The time of the call or visit is not valid."), user)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dash.ctx.tz)
    window = dash.ctx.interaction_window
    why = window.problem(at, now)
    if why == "future":
        return problem(dash, 422, N_("The time of the call or visit lies in the future."), user)
    if why is not None:
        return problem(dash, 422, N_("The time of the call or visit lies more than %(days)d days back."), user,
                       days=window.max_age.days)  # fmt: skip
    return at


@router.post("/interactions")
def log(request: Request, dash: Dashboard, form: Form) -> Response:
    now = dash.ctx.clock()
    with transaction(dash.ctx.sessions) as session:
        user = staff_sender(dash, request, session, form)
        if isinstance(user, Response):
            return user
        entry = _entry(form, now)
        if isinstance(entry, str):
            return problem(dash, 422, entry, user)
        if entry.topic is not None and entry.topic not in dash.ctx.notices.topic_names:
            return problem(dash, 422, N_("Unknown topic."), user)
        at = _when(dash, user, form.get("at", ""), now)
        if isinstance(at, Response):
            return at
        entry = dataclasses.replace(entry, received_at=at)
        logged = _logged(dash, session, user, entry, form.get("inquiry", "").strip(), now)
        if isinstance(logged, Response):
            return logged
    dash.ctx.wake_outbox()
    done = "logged" if not form.get("inquiry") else "call_back_done" if logged.call_back_done else "logged_on"
    return RedirectResponse(f"/dashboard/inquiries/{quote(logged.inquiry.reference)}?done={done}", status_code=303)


def _logged(
    dash: DashboardContext, session: Any, user: User, entry: Interaction, reference: str, now: datetime
) -> Logged | Response:
    """Logged as a new inquiry, or on the inquiry ``reference`` names; audited either way."""
    logger = session.get(Employee, user.principal.employee_id)
    assert logger is not None
    if not reference:
        logged = log_interaction(session, entry=entry, logger=logger, desk=dash.ctx.desk, now=now)
    else:
        on = _target(dash, session, user, reference)
        if isinstance(on, Response):
            return on
        try:
            logged = log_on_inquiry(session, entry=entry, inquiry=on, logger=logger, desk=dash.ctx.desk, now=now)
        except InquiryError as exc:
            return problem(dash, 409, exc.text, user, **exc.values)
    sent = logged.written_form
    audit.record(session, principal=user.principal, action="interaction.log", now=now, inquiry_id=logged.inquiry.id,
                 detail={**VIA, "reference": logged.inquiry.reference, "channel": entry.channel,
                         "assigned_to": logged.employee_key, "written_form_outbox_id": sent.id if sent else None,
                         "on_inquiry": bool(reference), "call_back_done": logged.call_back_done})  # fmt: skip
    return logged
