"""What staff do to an inquiry from its page: answer the client, add a note, stop or restart the
clock, change the complexity, close it with a reason, reopen it, or merge it into another inquiry
of the same client (issue 12, item 3).

Each is a POST form with the session's CSRF token, allowed by the same rule as in the staff API
(ingest/inquiries/access.py), done by the same service function (ingest/inquiries/), written to
the audit log, and answered with a redirect back to the inquiry saying what was done.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from ingest.dashboard.deps import (
    VIA,
    Dashboard,
    DashboardContext,
    Form,
    User,
    problem,
)
from ingest.dashboard.inquiry_pages import load, posted_on
from ingest.dashboard.labels import N_
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit
from ingest.inquiries.access import Action, can_act, can_merge
from ingest.inquiries.answering import answer as answer_client
from ingest.inquiries.closing import CLOSE_REASONS, close, reopen
from ingest.inquiries.complexity import change_complexity
from ingest.inquiries.errors import InquiryError
from ingest.inquiries.merging import merge
from ingest.inquiries.notes import add_note
from ingest.inquiries.waiting import set_waiting
from storage.actors import Actor
from storage.db import transaction
from storage.models import Employee, Inquiry

MAX_TEXT = 20_000
COMPLEXITIES = ("simple", "complex")

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

# What a change does, given the session, the acting employee, the inquiry and the time; it returns
# the word for the page's "done" notice, and raises InquiryError when the state forbids it.
Change = Callable[[Session, Employee, Inquiry, datetime], str]


def act(dash: DashboardContext, request: Request, reference: str, form: dict[str, str], action: Action,
        change: Change, *, invalid: str | None = None) -> Response:  # fmt: skip
    """Check the sender, the inquiry and the role, make the change, audit it, go back to the page.
    ``invalid`` is why the form cannot be taken (told only to a sender who may act)."""
    now = dash.ctx.clock()
    with transaction(dash.ctx.sessions) as session:
        posted = posted_on(dash, request, session, form, reference)
        if isinstance(posted, Response):
            return posted
        user, inquiry = posted
        if not can_act(session, user.principal, inquiry, action):
            return _refused(dash, action, user)
        if invalid is not None:
            return problem(dash, 422, invalid, user)
        author = session.get(Employee, user.principal.employee_id)
        assert author is not None
        try:
            done = change(session, author, inquiry, now)
        except InquiryError as exc:
            return problem(dash, 409, exc.text, user, **exc.values)
        audit.record(session, principal=user.principal, action=f"inquiry.{action.value}", now=now,
                     inquiry_id=inquiry.id, detail={**VIA, "reference": inquiry.reference, "done": done})  # fmt: skip
        ref = inquiry.reference
    dash.ctx.wake_outbox()
    return RedirectResponse(f"/dashboard/inquiries/{quote(ref)}?done={done}", status_code=303)


def _refused(dash: DashboardContext, action: Action, user: User) -> Response:
    if action == Action.ANSWER:
        return problem(dash, 403, N_("Only the responsible employee answers the client."), user)
    return problem(dash, 403, N_("Only the responsible employee, a supervisor or the board may do this."), user)


def _text(form: dict[str, str]) -> str | None:
    text = form.get("text", "").replace("\x00", "").strip()
    return text[:MAX_TEXT] if text else None


@router.post("/inquiries/{reference}/answer")
def answer(request: Request, dash: Dashboard, reference: str, form: Form) -> Response:
    text = _text(form)

    def change(session: Session, author: Employee, inquiry: Inquiry, now: datetime) -> str:
        answer_client(session, inquiry=inquiry, author=author, text=text or "", notices=dash.ctx.notices,
                      via="dashboard", now=now)  # fmt: skip
        return "answered"

    invalid = N_("Write the answer first.") if text is None else None
    return act(dash, request, reference, form, Action.ANSWER, change, invalid=invalid)


@router.post("/inquiries/{reference}/notes")
def note(request: Request, dash: Dashboard, reference: str, form: Form) -> Response:
    text = _text(form)

    def change(session: Session, author: Employee, inquiry: Inquiry, now: datetime) -> str:
        add_note(session, inquiry=inquiry, author=author, text=text or "", via="dashboard", now=now)
        return "noted"

    invalid = N_("Write the note first.") if text is None else None
    return act(dash, request, reference, form, Action.NOTE, change, invalid=invalid)


@router.post("/inquiries/{reference}/waiting")
def waiting(request: Request, dash: Dashboard, reference: str, form: Form) -> Response:
    wait = form.get("waiting") == "1"
    ctx = dash.ctx

    def change(session: Session, author: Employee, inquiry: Inquiry, now: datetime) -> str:
        set_waiting(session, inquiry=inquiry, waiting=wait, actor=Actor.employee(author.key), calendar=ctx.calendar,
                    policy=ctx.policy, now=now)  # fmt: skip
        return "waiting" if wait else "resumed"

    return act(dash, request, reference, form, Action.WAITING, change)


@router.post("/inquiries/{reference}/complexity")
def complexity(request: Request, dash: Dashboard, reference: str, form: Form) -> Response:
    chosen = form.get("complexity", "")
    ctx = dash.ctx

    def change(session: Session, author: Employee, inquiry: Inquiry, now: datetime) -> str:
        change_complexity(session, inquiry=inquiry, complexity=chosen, working_days=ctx.working_days(chosen),
                          actor=Actor.employee(author.key), calendar=ctx.calendar, policy=ctx.policy,
                          now=now)  # fmt: skip
        return "complexity"

    invalid = None if chosen in COMPLEXITIES else N_("Choose simple or complex.")
    return act(dash, request, reference, form, Action.COMPLEXITY, change, invalid=invalid)


@router.post("/inquiries/{reference}/close")
def close_inquiry(request: Request, dash: Dashboard, reference: str, form: Form) -> Response:
    reason = form.get("reason", "")

    def change(session: Session, author: Employee, inquiry: Inquiry, now: datetime) -> str:
        close(session, inquiry=inquiry, reason=reason, actor=Actor.employee(author.key), now=now)
        return "closed"

    invalid = None if reason in CLOSE_REASONS else N_("Choose why it is closed.")
    return act(dash, request, reference, form, Action.CLOSE, change, invalid=invalid)


@router.post("/inquiries/{reference}/reopen")
def reopen_inquiry(request: Request, dash: Dashboard, reference: str, form: Form) -> Response:
    def change(session: Session, author: Employee, inquiry: Inquiry, now: datetime) -> str:
        reopen(session, inquiry=inquiry, actor=Actor.employee(author.key), now=now)
        return "reopened"

    return act(dash, request, reference, form, Action.REOPEN, change)


@router.post("/inquiries/{reference}/merge")
def merge_inquiry(request: Request, dash: Dashboard, reference: str, form: Form) -> Response:
    """Merge this inquiry into the one chosen (``into``) and show that one: the messages are there."""
    now = dash.ctx.clock()
    into = form.get("into", "").strip()[:40]
    with transaction(dash.ctx.sessions) as session:
        posted = posted_on(dash, request, session, form, reference)
        if isinstance(posted, Response):
            return posted
        user, source = posted
        if not into:
            return problem(dash, 422, N_("Choose the inquiry to merge into."), user)
        target = load(session, user, into)
        if target is None:
            return problem(dash, 404, N_("No such inquiry that you may see."), user)
        if not can_merge(session, user.principal, source, target):
            return _refused(dash, Action.MERGE, user)
        try:
            merge(session, source=source, target=target, actor=Actor.employee(user.principal.key),
                  calendar=dash.ctx.calendar, policy=dash.ctx.policy, now=now)  # fmt: skip
        except InquiryError as exc:
            return problem(dash, 409, exc.text, user, **exc.values)
        audit.record(session, principal=user.principal, action="inquiry.merge", now=now, inquiry_id=source.id,
                     detail={**VIA, "reference": source.reference, "into": target.reference})  # fmt: skip
        ref = target.reference
    return RedirectResponse(f"/dashboard/inquiries/{quote(ref)}?done=merged", status_code=303)
