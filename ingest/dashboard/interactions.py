"""Logging a phone call or a visit from the workspace (``/dashboard/interactions``, policy 6 and
10.2): the form of ``POST /api/v1/interactions``, the same service behind it."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

import dataclasses
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
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
from ingest.dashboard.labels import N_
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit
from ingest.inquiries.interactions import Interaction, log_interaction
from storage.db import transaction
from storage.models import Employee

CHANNELS = ("phone", "visit")

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@router.get("/interactions")
def interaction_form(request: Request, dash: Dashboard) -> Response:
    with transaction(dash.ctx.sessions) as session:
        user = staff_viewer(dash, request, session)
        if isinstance(user, Response):
            return user
    return page(dash, "interaction.html", user=user, csrf=user.session.csrf_token, channels=CHANNELS,
                topics=dict(dash.ctx.notices.topic_names))  # fmt: skip


def _entry(form: dict[str, str], now: datetime) -> Interaction | str:
    """The interaction the form describes, or why it cannot be taken (a catalog text)."""
    channel, text = form.get("channel", ""), form.get("text", "").replace("\x00", "").strip()
    phone, email = form.get("phone", "").strip()[:32], form.get("email", "").strip()[:320]
    if channel not in CHANNELS:
        return N_("Choose a call or a visit.")
    if not text:
        return N_("Write what the client asked about.")
    if not phone and not email:
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
        reference = _logged(dash, session, user, entry, now)
    dash.ctx.wake_outbox()
    return RedirectResponse(f"/dashboard/inquiries/{quote(reference)}?done=logged", status_code=303)


def _logged(dash: DashboardContext, session: Any, user: User, entry: Interaction, now: datetime) -> str:
    logger = session.get(Employee, user.principal.employee_id)
    assert logger is not None
    logged = log_interaction(session, entry=entry, logger=logger, desk=dash.ctx.desk, now=now)
    sent = logged.written_form
    audit.record(session, principal=user.principal, action="interaction.log", now=now, inquiry_id=logged.inquiry.id,
                 detail={**VIA, "reference": logged.inquiry.reference, "channel": entry.channel,
                         "assigned_to": logged.employee_key,
                         "written_form_outbox_id": sent.id if sent else None})  # fmt: skip
    return logged.inquiry.reference
