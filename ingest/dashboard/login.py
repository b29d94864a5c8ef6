"""The dashboard's login and logout (``/dashboard/login``, ``/dashboard/logout``) and its stylesheet.

A login checks the login form's CSRF cookie, counts the attempt against the app's limit (per key
and client address, and per key; refused when over it), then checks the password (always one
scrypt check, so the timing does not tell whether a key exists), and starts a server-side
session. Logins, failed and refused logins and logouts write audit rows; never the password.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

import secrets
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from ingest.dashboard.deps import VIA, Dashboard, DashboardContext, Form, current_user, form_sender, page, remote
from ingest.dashboard.labels import N_
from ingest.dashboard.passwords import refusal as password_refusal
from ingest.dashboard.sessions import end_session, start_session
from ingest.dashboard.web import (
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    TEMPLATES,
    DashboardRoute,
    safe_next,
    same_token,
    set_cookie,
)
from ingest.i18n import language_of
from ingest.inquiries import audit
from storage import inquiry_repo
from storage.db import transaction
from storage.models import Employee

LANGUAGE_MAX_AGE = 365 * 24 * 3600

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@router.get("/static/dashboard.css")
def stylesheet() -> Response:
    return Response((TEMPLATES / "dashboard.css").read_bytes(), media_type="text/css")


def login_page(
    dash: DashboardContext, status: int = 200, *, next_path: str = "/dashboard", message: str = "", key: str = ""
) -> Response:
    csrf = secrets.token_urlsafe(32)
    response = page(dash, "login.html", status, csrf=csrf, next_path=next_path, message=message, key=key)
    set_cookie(
        response,
        LOGIN_CSRF_COOKIE,
        csrf,
        secure_cookie=dash.options.secure_cookies,
        max_age=3600,
        path="/dashboard/login",
    )
    return response


def login_audit(
    dash: DashboardContext, session: Session, request: Request, *, actor: str, action: str, detail: dict[str, Any]
) -> None:
    # Written directly: a failed login has no principal. Never the password; the typed key
    # only when it is an employee's (an unknown "key" may be a password typed in the wrong box).
    audit.record_action(
        session, actor=actor, action=action, now=dash.ctx.clock(), detail=detail, remote_addr=remote(request)
    )


@router.get("/language/{code}")
def choose_language(
    dash: Dashboard,
    code: str,
    next: str = Query(default="/dashboard", max_length=500),  # noqa: A002
) -> Response:
    """The pages in another language (a preference, kept in a cookie for a year); back to ``next``."""
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(
        response,
        LANGUAGE_COOKIE,
        language_of(code),
        secure_cookie=dash.options.secure_cookies,
        max_age=LANGUAGE_MAX_AGE,
        path="/dashboard",
    )
    return response


@router.get("/login")
def login_form(
    request: Request,
    dash: Dashboard,
    next: str = Query(default="/dashboard", max_length=500),  # noqa: A002
) -> Response:
    with transaction(dash.ctx.sessions) as session:
        if current_user(dash, request, session) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    return login_page(dash, next_path=safe_next(next))


@router.post("/login")
def login(request: Request, form: Form, dash: Dashboard) -> Response:
    key = form.get("employee", "").strip()[:64]
    password = form.get("password", "")
    next_path = safe_next(form.get("next"))
    now = dash.ctx.clock()
    if not same_token(form.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE)):
        return login_page(
            dash, 403, next_path=next_path, message=dash.gettext(N_("The form had expired. Please try again.")), key=key
        )
    # The attempt is counted before the password is checked, in one step with the check of the
    # limit: parallel requests cannot all pass while the first are still in scrypt.
    address = remote(request)
    wait = dash.limiter.reserve(key, address, now)
    if wait is not None:
        with dash.ctx.sessions() as session:
            employee = inquiry_repo.employee_by_key(session, key=key) if key else None
        with transaction(dash.ctx.sessions) as session:
            login_audit(dash, session, request, actor=employee.key if employee is not None else "unknown",
                        action="dashboard.login_refused", detail={"reason": "rate_limited"})  # fmt: skip
        message = dash.gettext(N_("Too many failed attempts. Try again in %(minutes)s min.")) % {
            "minutes": _minutes(wait)
        }
        return login_page(dash, 429, next_path=next_path, message=message, key=key)
    # Read, then check the password with no transaction open: scrypt takes tens of milliseconds,
    # and a write transaction would hold SQLite's write lock meanwhile.
    with dash.ctx.sessions() as session:
        employee = inquiry_repo.employee_by_key(session, key=key) if key else None
    reason = refusal(dash, employee, password)
    if employee is None or reason is not None:
        known = employee.key if employee is not None else "unknown"
        with transaction(dash.ctx.sessions) as session:
            login_audit(dash, session, request, actor=known, action="dashboard.login_failed", detail={"reason": reason})
        return login_page(
            dash, 401, next_path=next_path, message=dash.gettext(N_("Wrong employee key or password.")), key=key
        )
    dash.limiter.succeeded(key, address, now)
    return logged_in(dash, request, employee, now=now, next_path=next_path)


def _minutes(wait: timedelta) -> int:
    return max(1, int(wait.total_seconds() // 60) + 1)


def refusal(dash: DashboardContext, employee: Employee | None, password: str) -> str | None:
    """Why the password does not let ``employee`` in, or None if it does."""
    return password_refusal(employee, password, decoy=dash.decoy)


def logged_in(
    dash: DashboardContext, request: Request, employee: Employee, *, now: datetime, next_path: str
) -> Response:
    """Start the session, log the login, and send the browser on with the session cookie."""
    options = dash.options
    with transaction(dash.ctx.sessions) as session:
        new = start_session(session, employee_key=employee.key, now=now, idle=options.idle, lifetime=options.lifetime)
        login_audit(dash, session, request, actor=employee.key, action="dashboard.login", detail={"via": "dashboard"})
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(
        response, SESSION_COOKIE, new.token, secure_cookie=options.secure_cookies, max_age=None, path="/dashboard"
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/dashboard/login")
    # The pages open in the language the employee works in (config); the switch changes it until the next login.
    set_cookie(
        response, LANGUAGE_COOKIE, language_of(employee.language), secure_cookie=options.secure_cookies,
        max_age=LANGUAGE_MAX_AGE, path="/dashboard",
    )  # fmt: skip
    return response


@router.post("/logout")
def logout(request: Request, form: Form, dash: Dashboard) -> Response:
    with transaction(dash.ctx.sessions) as session:
        user = form_sender(dash, request, session, form)
        if isinstance(user, Response):
            return user
        end_session(session, token=request.cookies.get(SESSION_COOKIE, ""))
        audit.record(
            session, principal=user.principal, action="dashboard.logout", now=dash.ctx.clock(), detail=dict(VIA)
        )
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response
