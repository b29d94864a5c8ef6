"""One inquiry on the dashboard (``/dashboard/inquiries/REF``) and reassigning it.

The page shows the inquiry as the staff API's detail (ingest/api/shapes.py), its messages and
events in one timeline; reassigning calls the same service function as the API
(ingest/inquiries/reassign.py), under the same rule: the responsible employee, a supervisor or
the board. An inquiry the user may not see is answered as one that does not exist.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from ingest.api.schemas import InquiryDetail, MessageOut
from ingest.api.shapes import attachment_response
from ingest.api.shapes import detail as inquiry_detail
from ingest.dashboard.call_backs import call_back_states
from ingest.dashboard.conversation import sent_of, timeline
from ingest.dashboard.deps import (
    VIA,
    Dashboard,
    DashboardContext,
    Form,
    User,
    current_user,
    employee_names,
    page,
    problem,
    sees_inquiries,
    staff_sender,
    staff_viewer,
    to_login,
)
from ingest.dashboard.explanation import routing_lines, time_left
from ingest.dashboard.labels import N_
from ingest.dashboard.note_marks import note_marks
from ingest.dashboard.reply_choice import answer_form
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit, merging
from ingest.inquiries.access import Action, can_act, can_merge, can_see, visible
from ingest.inquiries.closing import CLOSE_REASONS, REOPENABLE
from ingest.inquiries.errors import InquiryError, UnknownEmployee
from ingest.inquiries.reassign import reassign
from ingest.inquiries.thanks import looks_like_thanks
from ingest.outgoing.redirect_reasons import REDIRECT_REASONS
from storage import inquiry_repo, merge_repo, repo
from storage.actors import Actor
from storage.db import transaction
from storage.models import OPEN_STATUSES, Employee, Inquiry, InquiryStatus

# Shown as thumbnails on the inquiry's page; anything else is a link to download.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

REFERENCE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


def posted_on(
    dash: DashboardContext, request: Request, session: Session, form: dict[str, str], reference: str
) -> tuple[User, Inquiry] | Response:
    """The sender of a form posted on an inquiry and the inquiry, if they may see it; else the answer."""
    user = staff_sender(dash, request, session, form)
    if isinstance(user, Response):
        return user
    inquiry = load(session, user, reference)
    if inquiry is None:
        return problem(dash, 404, N_("No such inquiry that you may see."), user)
    return user, inquiry


def load(session: Session, user: User, reference: str) -> Inquiry | None:
    """The inquiry if it exists and ``user`` may see it; None alike otherwise."""
    if not REFERENCE.match(reference):
        return None
    inquiry = repo.inquiry_by_reference(session, reference=reference.upper())
    if inquiry is None or not can_see(session, user.principal, inquiry):
        return None  # the same answer as for one that does not exist
    return inquiry


# What the page says after a change (its ?done= parameter).
DONE = ("reassigned", "answered", "noted", "waiting", "resumed", "complexity", "closed", "reopened", "logged", "merged",
        "logged_on", "call_back_done")  # fmt: skip

# What an inquiry may be merged into: the client's inquiries still in work or answered.
MERGE_INTO_STATUSES = (*OPEN_STATUSES, InquiryStatus.ANSWERED.value)


def allowed(session: Session, user: User, inquiry: Inquiry) -> dict[str, bool]:
    """Which of the page's forms this user may use on this inquiry now (the API's rules)."""
    principal, status = user.principal, inquiry.status
    return {
        "answer": status != InquiryStatus.CLOSED.value and can_act(session, principal, inquiry, Action.ANSWER),
        "note": can_act(session, principal, inquiry, Action.NOTE),
        "waiting": status in OPEN_STATUSES and can_act(session, principal, inquiry, Action.WAITING),
        "complexity": status in OPEN_STATUSES and can_act(session, principal, inquiry, Action.COMPLEXITY),
        "reassign": status in OPEN_STATUSES and can_act(session, principal, inquiry, Action.REASSIGN),
        "close": status != InquiryStatus.CLOSED.value and can_act(session, principal, inquiry, Action.CLOSE),
        "reopen": status in REOPENABLE and can_act(session, principal, inquiry, Action.REOPEN),
        "merge": inquiry.merged_into_id is None and can_act(session, principal, inquiry, Action.MERGE),
    }


def merge_candidates(session: Session, user: User, inquiry: Inquiry, history: list[Inquiry]) -> list[Inquiry]:
    """The client's other inquiries this one may be merged into by this user (the service's rules)."""
    return [
        other
        for other in history
        if other.status in MERGE_INTO_STATUSES
        and merging.refusal(inquiry, other) is None
        and can_merge(session, user.principal, inquiry, other)
    ]


def thanked(shown: InquiryDetail) -> MessageOut | None:
    """The client's last message when it came after an answer and only thanks (ingest/inquiries/thanks.py)."""
    answered = [e.at for e in shown.events if e.type == "answered"]
    written = [m for m in shown.messages if m.direction in ("in", "out")]
    if not answered or not written or shown.status not in OPEN_STATUSES:
        return None
    last = written[-1]
    if last.direction != "in" or last.received_at < answered[-1] or not looks_like_thanks(last.text):
        return None
    return last


def explained(dash: DashboardContext, session: Session, inquiry: Inquiry, now: datetime) -> dict[str, Any]:
    """The page's words on why the inquiry went to whom, and its remaining working time."""
    assert inquiry.id is not None
    by_key = employee_names(session)
    return {
        "names": by_key,
        "why": routing_lines(
            inquiry_repo.events_of(session, inquiry_id=inquiry.id),
            names=lambda keys: ", ".join(by_key.get(k, k) for k in keys),
            topic_names=dash.ctx.topic_names,
            day=lambda d: d.strftime("%d.%m.%Y"),
        ),
        "left": time_left(inquiry, dash.ctx.calendar, now),
    }


@router.get("/inquiries/{reference}")
def inquiry_page(
    request: Request,
    dash: Dashboard,
    reference: str,
    done: str | None = Query(default=None, max_length=20),
    template: str | None = Query(default=None, max_length=80),  # a reply template to start the answer with
) -> Response:
    now = dash.ctx.clock()
    with transaction(dash.ctx.sessions) as session:
        user = staff_viewer(dash, request, session)
        if isinstance(user, Response):
            return user
        inquiry = load(session, user, reference)
        if inquiry is None:
            return problem(dash, 404, N_("No such inquiry that you may see."), user)
        shown = inquiry_detail(session, inquiry, now)
        assert inquiry.id is not None
        # What was sent about inquiries merged into this one stays on their rows: shown here too.
        merged = merge_repo.merged_sources(session, inquiry_id=inquiry.id)
        sent = sent_of(inquiry_repo.client_outbox_of(session, inquiry_ids=[inquiry.id, *merged]))
        words = explained(dash, session, inquiry, now)
        visible_here = visible(user.principal, session.get_bind().dialect.name)
        history = [
            other
            for other in inquiry_repo.inquiries_of_contact(session, contact_id=inquiry.contact_id, where=[visible_here])
            if other.id != inquiry.id
        ]
        may = allowed(session, user, inquiry)
        merge_into = merge_candidates(session, user, inquiry, history) if may["merge"] else []
        may_reassign = may["reassign"]
        reply = (answer_form(dash.options.replies, session, inquiry, user.session.employee, template, dash.ctx.tz)
                 if may["answer"] else None)  # fmt: skip
        others = inquiry_repo.assignable_employees(session) if may_reassign else []
        audit.record(session, principal=user.principal, action="inquiry.read", now=now, inquiry_id=inquiry.id,
                     detail={**VIA, "reference": inquiry.reference})  # fmt: skip
    return page(
        dash, "inquiry.html", user=user, inquiry=shown, timeline=timeline(shown, sent), may_reassign=may_reassign,
        note_marks=note_marks(shown.events),
        thanks=thanked(shown), **words, call_backs=call_back_states(shown.events),
        employees=[e for e in others if e.key != shown.employee], csrf=user.session.csrf_token,
        done=done if done in DONE else None, may=may, merge_into=merge_into, close_reasons=CLOSE_REASONS,
        history=history,
        images=IMAGE_TYPES, reply=reply, redirect_reasons=tuple(REDIRECT_REASONS),
    )  # fmt: skip


@router.post("/inquiries/{reference}/reassign")
def reassign_inquiry(request: Request, dash: Dashboard, reference: str, form: Form) -> Response:
    now = dash.ctx.clock()
    target_key = form.get("employee", "").strip()[:64]
    reason = form.get("reason", "").strip()[:500]
    code = form.get("reason_code", "").strip()
    with transaction(dash.ctx.sessions) as session:
        posted = posted_on(dash, request, session, form, reference)
        if isinstance(posted, Response):
            return posted
        user, inquiry = posted
        if not can_act(session, user.principal, inquiry, Action.REASSIGN):
            return problem(
                dash, 403, N_("Only the responsible employee, a supervisor or the board may reassign it."), user
            )
        if code not in REDIRECT_REASONS and not reason:
            # Policy 10.3: the client is told why.
            return problem(dash, 422, N_("Say why: choose a reason or write one for the client."), user)
        answer = give_to(dash, session, user, inquiry, target_key=target_key, reason=reason, now=now,
                         reason_code=code if code in REDIRECT_REASONS else None)  # fmt: skip
        if answer is not None:
            return answer
        ref = inquiry.reference
    dash.ctx.wake_outbox()
    return RedirectResponse(f"/dashboard/inquiries/{quote(ref)}?done=reassigned", status_code=303)


def give_to(
    dash: DashboardContext,
    session: Session,
    user: User,
    inquiry: Inquiry,
    *,
    target_key: str,
    reason: str,
    now: datetime,
    reason_code: str | None = None,
) -> Response | None:
    """Reassign ``inquiry`` to the employee ``target_key`` and audit it; the answer if that cannot be done."""
    previous = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
    try:
        target = reassign(session, inquiry=inquiry, to_employee=target_key, actor=Actor.employee(user.principal.key),
                          reason=reason, reason_code=reason_code,
                          notices=dash.ctx.notices, calendar=dash.ctx.calendar, policy=dash.ctx.policy,
                          now=now)  # fmt: skip
    except UnknownEmployee:
        return problem(dash, 422, N_("Choose an active employee."), user)
    except InquiryError as exc:
        return problem(dash, 409, exc.text, user, **exc.values)
    audit.record(session, principal=user.principal, action="inquiry.reassign", now=now, inquiry_id=inquiry.id,
                 detail={**VIA, "reference": inquiry.reference, "from": previous.key if previous else None,
                         "to": target.key})  # fmt: skip
    return None


@router.get("/inquiries/{reference}/attachments/{attachment_id}")
def attachment(request: Request, dash: Dashboard, reference: str, attachment_id: int) -> Response:
    """An attachment as the API serves it: always a download, types that could run as bytes."""
    now = dash.ctx.clock()
    with transaction(dash.ctx.sessions) as session:
        user = current_user(dash, request, session)
        if user is None:
            return to_login(request)
        inquiry = load(session, user, reference) if sees_inquiries(user) else None
        row = None
        if inquiry is not None and inquiry.id is not None:
            row = inquiry_repo.attachment_on(session, inquiry_id=inquiry.id, attachment_id=attachment_id)
        if inquiry is None or row is None or row.data is None:
            return problem(dash, 404, N_("No such attachment that you may see."), user)
        audit.record(session, principal=user.principal, action="attachment.download", now=now, inquiry_id=inquiry.id,
                     detail={**VIA, "reference": inquiry.reference, "attachment_id": attachment_id})  # fmt: skip
        data, ctype, filename = row.data, row.content_type, row.filename
    return attachment_response(data, content_type=ctype, filename=filename, attachment_id=attachment_id)
