"""The supervisor's dashboard (``/dashboard``): login, the office's figures, one inquiry, reassigning.

Server-rendered HTML, no script. Who sees what is decided by ingest/access.py,
as in the staff API: an employee sees their own inquiries, a supervisor all but
complaints, the board everything, an admin nothing (403). Every page showing a
client's data writes an audit row, as does every change and every login.
The figures come from ingest/office_figures.py, as those of ``ingest report``.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from ingest.api.auth import Principal
from ingest.api.context import ApiContext
from ingest.api.shapes import detail as inquiry_detail
from ingest.dashboard.charts import on_time_chart
from ingest.dashboard.figures import Period, due_today, last_weeks, office_figures
from ingest.dashboard.passwords import dummy_hash, verify_password
from ingest.dashboard.sessions import LiveSession, LoginLimiter, end_session, resolve_session, start_session
from ingest.dashboard.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    TEMPLATES,
    DashboardRoute,
    html,
    read_form,
    safe_next,
    same_token,
    set_cookie,
    template_environment,
)
from ingest.inquiries import audit
from ingest.inquiries.access import Action, can_act, can_see, visible
from ingest.inquiries.errors import InquiryError
from ingest.inquiries.reassign import reassign
from storage import repo
from storage.db import transaction
from storage.models import OPEN_STATUSES, Employee, Inquiry
from storage.staff_models import Role

REFERENCE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
FEEDBACK_LIMIT = 200
VIA = {"via": "dashboard", "token_id": None}  # audit detail: not an API token


@dataclass(frozen=True)
class DashboardOptions:
    secure_cookies: bool = False
    idle: timedelta = timedelta(hours=8)
    lifetime: timedelta = timedelta(hours=12)
    weeks: int = 8  # the overview's default period: this many ISO weeks up to today


@dataclass(frozen=True)
class User:
    principal: Principal
    session: LiveSession

    @property
    def name(self) -> str:
        return f"{self.session.employee.name} {self.session.employee.surname}".strip()


def _role(employee: Employee) -> Role:
    try:
        return Role(employee.role)
    except ValueError:
        return Role.EMPLOYEE  # an unknown value in the database grants the least


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


def dashboard_router(ctx: ApiContext, options: DashboardOptions, limiter: LoginLimiter | None = None) -> APIRouter:
    api = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)
    env = template_environment(ctx.tz)
    limiter = limiter or LoginLimiter()
    # Checked when the key is unknown, so a wrong key costs the same time as a wrong password.
    decoy = dummy_hash()
    Form = Annotated[dict[str, str], Depends(read_form)]

    def page(name: str, status: int = 200, user: User | None = None, **values: Any) -> Response:
        return html(env, name, status, office=ctx.notices.office, user=user, **values)

    def problem(status: int, message: str, user: User | None = None) -> Response:
        return page("error.html", status, user=user, code=status, message=message)

    def current_user(request: Request, session: Session) -> User | None:
        token = request.cookies.get(SESSION_COOKIE, "")
        live = resolve_session(session, token=token, now=ctx.clock(), idle=options.idle) if token else None
        if live is None:
            return None
        employee = live.employee
        assert employee.id is not None
        principal = Principal(
            employee_id=employee.id, key=employee.key, role=_role(employee), token_id=0, remote_addr=_remote(request)
        )
        return User(principal=principal, session=live)

    def form_sender(request: Request, session: Session, form: dict[str, str]) -> User | Response:
        """Who posted the form, if logged in and the form carries this session's CSRF token;
        otherwise the answer to give instead."""
        user = current_user(request, session)
        if user is None:
            return to_login(request)
        if not same_token(form.get("csrf"), user.session.csrf_token):
            return problem(403, "The form had expired. Reload the page and try again.", user)
        return user

    def to_login(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"/dashboard/login?next={quote(target, safe='')}", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/dashboard")
        return response

    def sees_inquiries(user: User) -> bool:
        return user.principal.role in (Role.EMPLOYEE, Role.SUPERVISOR, Role.BOARD)

    def login_audit(session: Session, request: Request, *, actor: str, action: str, detail: dict[str, Any]) -> None:
        # Written directly: a failed login has no principal. Never the password; the typed key
        # only when it is an employee's (an unknown "key" may be a password typed in the wrong box).
        audit.record_action(
            session, actor=actor, action=action, now=ctx.clock(), detail=detail, remote_addr=_remote(request)
        )

    # -- static -------------------------------------------------------------------------------

    @api.get("/static/dashboard.css")
    def stylesheet() -> Response:
        return Response((TEMPLATES / "dashboard.css").read_bytes(), media_type="text/css")

    # -- login and logout -----------------------------------------------------------------------

    def login_page(status: int = 200, *, next_path: str = "/dashboard", message: str = "", key: str = "") -> Response:
        csrf = secrets.token_urlsafe(32)
        response = page("login.html", status, csrf=csrf, next_path=next_path, message=message, key=key)
        set_cookie(
            response,
            LOGIN_CSRF_COOKIE,
            csrf,
            secure_cookie=options.secure_cookies,
            max_age=3600,
            path="/dashboard/login",
        )
        return response

    @api.get("/login")
    def login_form(request: Request, next: str = Query(default="/dashboard", max_length=500)) -> Response:  # noqa: A002
        with transaction(ctx.sessions) as session:
            if current_user(request, session) is not None:
                return RedirectResponse(safe_next(next), status_code=303)
        return login_page(next_path=safe_next(next))

    @api.post("/login")
    def login(request: Request, form: Form) -> Response:
        key = form.get("employee", "").strip()[:64]
        password = form.get("password", "")
        next_path = safe_next(form.get("next"))
        now = ctx.clock()
        if not same_token(form.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE)):
            return login_page(403, next_path=next_path, message="The form had expired. Please try again.", key=key)
        # Read, then check the password with no transaction open: scrypt takes tens of milliseconds,
        # and a write transaction would hold SQLite's write lock meanwhile.
        with ctx.sessions() as session:
            employee = (
                session.execute(select(Employee).where(col(Employee.key) == key)).scalars().first() if key else None
            )
        known = employee.key if employee is not None else "unknown"
        stored = employee.password_hash if employee is not None and employee.active else None
        wait = limiter.retry_after(key, now)
        if wait is not None:
            with transaction(ctx.sessions) as session:
                login_audit(
                    session, request, actor=known, action="dashboard.login_refused", detail={"reason": "rate_limited"}
                )
            minutes = max(1, int(wait.total_seconds() // 60) + 1)
            return login_page(
                429, next_path=next_path, message=f"Too many failed attempts. Try again in {minutes} min.", key=key
            )
        # Always one scrypt check (against the decoy when there is no password), so the answer's
        # timing does not tell whether the key exists.
        matches = verify_password(password, stored or decoy) and stored is not None
        if employee is None or not matches:
            limiter.failed(key, now)
            reason = "unknown_employee" if employee is None else "no_password" if stored is None else "wrong_password"
            with transaction(ctx.sessions) as session:
                login_audit(session, request, actor=known, action="dashboard.login_failed", detail={"reason": reason})
            return login_page(401, next_path=next_path, message="Wrong employee key or password.", key=key)
        limiter.succeeded(key)
        with transaction(ctx.sessions) as session:
            new = start_session(
                session, employee_key=employee.key, now=now, idle=options.idle, lifetime=options.lifetime
            )
            login_audit(session, request, actor=employee.key, action="dashboard.login", detail={"via": "dashboard"})
        response = RedirectResponse(next_path, status_code=303)
        set_cookie(
            response, SESSION_COOKIE, new.token, secure_cookie=options.secure_cookies, max_age=None, path="/dashboard"
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/dashboard/login")
        return response

    @api.post("/logout")
    def logout(request: Request, form: Form) -> Response:
        with transaction(ctx.sessions) as session:
            user = form_sender(request, session, form)
            if isinstance(user, Response):
                return user
            end_session(session, token=request.cookies.get(SESSION_COOKIE, ""))
            audit.record(
                session, principal=user.principal, action="dashboard.logout", now=ctx.clock(), detail=dict(VIA)
            )
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/dashboard")
        return response

    # -- the overview ---------------------------------------------------------------------------

    @api.get("")
    def overview(
        request: Request,
        first: str | None = Query(default=None, alias="from", max_length=10),
        last: str | None = Query(default=None, alias="to", max_length=10),
    ) -> Response:
        now = ctx.clock()
        today = now.astimezone(ctx.tz).date()
        with transaction(ctx.sessions) as session:
            user = current_user(request, session)
            if user is None:
                return to_login(request)
            if not sees_inquiries(user):
                return problem(403, "Your role has no access to inquiries.", user)
            try:
                period = (
                    Period(date.fromisoformat(first or ""), date.fromisoformat(last or ""))
                    if first or last
                    else last_weeks(today, options.weeks)
                )
            except ValueError as exc:
                return problem(400, f"The period is not valid: {exc}. Use from=YYYY-MM-DD&to=YYYY-MM-DD.", user)
            where = visible(user.principal, session.get_bind().dialect.name)
            figures = office_figures(
                session, period=period, now=now, tz=ctx.tz, where=where, topic_names=dict(ctx.notices.topic_names),
                feedback_limit=FEEDBACK_LIMIT,
            )  # fmt: skip
            due = due_today(session, now=now, tz=ctx.tz, where=where)
            # Subjects of clients' inquiries are shown: a read of personal data, with what was shown.
            shown = sorted({d.reference for d in due} | {f.reference for f in figures.feedback})
            audit.record(session, principal=user.principal, action="dashboard.overview", now=now,
                         detail={**VIA, "period": period.label, "references": shown})  # fmt: skip
        return page(
            "overview.html", user=user, figures=figures, due=due, chart=on_time_chart(figures.weeks),
            today=today, working_day=ctx.calendar.is_working_day(today), csrf=user.session.csrf_token,
            sees_complaints=user.principal.role == Role.BOARD, feedback_limit=FEEDBACK_LIMIT,
        )  # fmt: skip

    # -- one inquiry ----------------------------------------------------------------------------

    def load(session: Session, user: User, reference: str) -> Inquiry | None:
        if not REFERENCE.match(reference):
            return None
        inquiry = repo.inquiry_by_reference(session, reference=reference.upper())
        if inquiry is None or not can_see(session, user.principal, inquiry):
            return None  # the same answer as for one that does not exist
        return inquiry

    @api.get("/inquiries/{reference}")
    def inquiry_page(
        request: Request, reference: str, done: str | None = Query(default=None, max_length=20)
    ) -> Response:
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            user = current_user(request, session)
            if user is None:
                return to_login(request)
            if not sees_inquiries(user):
                return problem(403, "Your role has no access to inquiries.", user)
            inquiry = load(session, user, reference)
            if inquiry is None:
                return problem(404, "No such inquiry that you may see.", user)
            detail = inquiry_detail(session, inquiry, now)
            may_reassign = inquiry.status in OPEN_STATUSES and can_act(
                session, user.principal, inquiry, Action.REASSIGN
            )
            others = (
                session.execute(
                    select(Employee)
                    .where(col(Employee.active).is_(True), col(Employee.role) != Role.ADMIN.value)
                    .order_by(col(Employee.surname), col(Employee.name))
                ).scalars().all()
                if may_reassign
                else []
            )  # fmt: skip
            audit.record(session, principal=user.principal, action="inquiry.read", now=now, inquiry_id=inquiry.id,
                         detail={**VIA, "reference": inquiry.reference})  # fmt: skip
        timeline = sorted(
            [("message", m.received_at, m.id, m) for m in detail.messages]
            + [("event", e.at, e.id, e) for e in detail.events],
            key=lambda item: (item[1], item[0] == "event", item[2]),
        )
        return page(
            "inquiry.html", user=user, inquiry=detail, timeline=timeline, may_reassign=may_reassign,
            employees=[e for e in others if e.key != detail.employee], csrf=user.session.csrf_token,
            done=done == "reassigned",
        )  # fmt: skip

    @api.post("/inquiries/{reference}/reassign")
    def reassign_inquiry(request: Request, reference: str, form: Form) -> Response:
        now = ctx.clock()
        target_key = form.get("employee", "").strip()[:64]
        reason = form.get("reason", "").strip()[:500]
        with transaction(ctx.sessions) as session:
            user = form_sender(request, session, form)
            if isinstance(user, Response):
                return user
            if not sees_inquiries(user):
                return problem(403, "Your role has no access to inquiries.", user)
            inquiry = load(session, user, reference)
            if inquiry is None:
                return problem(404, "No such inquiry that you may see.", user)
            if not can_act(session, user.principal, inquiry, Action.REASSIGN):
                return problem(403, "Only the responsible employee, a supervisor or the board may reassign it.", user)
            target = session.execute(select(Employee).where(col(Employee.key) == target_key)).scalars().first()
            if target is None or not target.active:
                return problem(422, "Choose an active employee.", user)
            previous = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
            try:
                reassign(session, inquiry=inquiry, to_employee=target.key, actor=user.principal.key, reason=reason,
                         notices=ctx.notices, now=now)  # fmt: skip
            except InquiryError as exc:
                return problem(409, str(exc), user)
            audit.record(session, principal=user.principal, action="inquiry.reassign", now=now, inquiry_id=inquiry.id,
                         detail={**VIA, "reference": inquiry.reference, "from": previous.key if previous else None,
                                 "to": target.key})  # fmt: skip
            ref = inquiry.reference
        ctx.wake_outbox()
        return RedirectResponse(f"/dashboard/inquiries/{quote(ref)}?done=reassigned", status_code=303)

    return api
