"""What the dashboard's routes need from the running service, and who is asking.

:func:`ingest.dashboard.routers.mount_dashboard` puts a :class:`DashboardContext` on the app
(``app.state.dashboard``): the service's context, the options, the app's own login limiter and
page renderer. The routes get it through the :data:`Dashboard` dependency; nothing global, so
several services in one process each count their own failed logins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment
from sqlmodel import Session

from ingest.api.auth import Principal
from ingest.api.context import ApiContext
from ingest.dashboard.labels import N_
from ingest.dashboard.sessions import LiveSession, LoginLimiter, resolve_session
from ingest.dashboard.web import LANGUAGE_COOKIE, SESSION_COOKIE, html, read_form, same_token
from ingest.i18n import DEFAULT_LANGUAGE, LANGUAGES, Catalogs, language_of
from ingest.outgoing.reply_templates import ReplyTemplates
from storage import inquiry_repo
from storage.models import Employee
from storage.staff_models import Role

VIA = {"via": "dashboard", "token_id": None}  # audit detail: not an API token


@dataclass(frozen=True)
class DashboardOptions:
    secure_cookies: bool = False
    idle: timedelta = timedelta(hours=8)
    lifetime: timedelta = timedelta(hours=12)
    weeks: int = 8  # the overview's default period: this many ISO weeks up to today
    # The canned answers offered in the answer form (policy 16; ingest/assembly.py reads the folder).
    replies: ReplyTemplates = field(default_factory=ReplyTemplates)


@dataclass(frozen=True, eq=False)
class DashboardContext:
    """One app's dashboard: the service's context, the options, its login limiter and templates,
    seen in the language of the request (``language``)."""

    ctx: ApiContext
    options: DashboardOptions
    limiter: LoginLimiter
    envs: Mapping[str, Environment]  # the page renderer per language (catalog, time zone)
    catalogs: Catalogs
    decoy: str  # checked when the key is unknown, so a wrong key costs the same time as a wrong password
    language: str = DEFAULT_LANGUAGE
    path: str = "/dashboard"  # the page asked for: where a language switch comes back to

    @property
    def env(self) -> Environment:
        return self.envs[self.language]

    def gettext(self, message: str) -> str:
        """``message`` in the page's language."""
        return self.catalogs.get(self.language).gettext(message)


def dashboard_context(request: Request) -> DashboardContext:
    """The dashboard of the app serving this request (``app.state.dashboard``), in the language
    the browser chose (the ``gk_lang`` cookie; Latvian by default)."""
    found = getattr(request.app.state, "dashboard", None)
    if not isinstance(found, DashboardContext):
        raise RuntimeError("the dashboard is mounted on an app without its context (mount_dashboard)")
    language = language_of(request.cookies.get(LANGUAGE_COOKIE))
    return replace(found, language=language, path=request.url.path)


Dashboard = Annotated[DashboardContext, Depends(dashboard_context)]
Form = Annotated[dict[str, str], Depends(read_form)]


@dataclass(frozen=True)
class User:
    principal: Principal
    session: LiveSession

    @property
    def name(self) -> str:
        return f"{self.session.employee.name} {self.session.employee.surname}".strip()


def role_of(employee: Employee) -> Role:
    try:
        return Role(employee.role)
    except ValueError:
        return Role.EMPLOYEE  # an unknown value in the database grants the least


def remote(request: Request) -> str | None:
    return request.client.host if request.client else None


def employee_names(session: Session) -> dict[str, str]:
    """Employee key -> "Name Surname" of everyone who handles inquiries (no admin), the active ones
    first in name order: how pages name people."""
    staff = [e for e in inquiry_repo.employees_by_id(session).values() if e.role != "admin"]
    return {
        e.key: f"{e.name} {e.surname}".strip() or e.key for e in sorted(staff, key=lambda e: (not e.active, e.name))
    }


def sees_inquiries(user: User) -> bool:
    return user.principal.role in (Role.EMPLOYEE, Role.SUPERVISOR, Role.BOARD)


# -- answers ---------------------------------------------------------------------------------


def page(dash: DashboardContext, name: str, status: int = 200, user: User | None = None, **values: Any) -> Response:
    return html(
        dash.env,
        name,
        status,
        office=dash.ctx.notices.office_names.get(dash.language, dash.ctx.notices.office),
        user=user,
        language=dash.language,
        languages=LANGUAGES,
        here=dash.path,
        **values,
    )


def problem(dash: DashboardContext, status: int, message: str, user: User | None = None, **values: object) -> Response:
    """An error page; ``message`` is a catalog text (marked with ``N_``), ``values`` fill its placeholders."""
    text = dash.gettext(message) % values if values else dash.gettext(message)
    return page(dash, "error.html", status, user=user, code=status, message=text)


def internal_error_page(request: Request) -> Response:
    """The page of an unexpected error (ingest/dashboard/web.py): what went wrong is in the log."""
    return problem(dashboard_context(request), 500, N_("Something went wrong on our side. Please try again later."))


def to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/dashboard/login?next={quote(target, safe='')}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


# -- who is asking ----------------------------------------------------------------------------


def current_user(dash: DashboardContext, request: Request, session: Session) -> User | None:
    """The logged-in user of the request's session cookie, or None."""
    token = request.cookies.get(SESSION_COOKIE, "")
    live = resolve_session(session, token=token, now=dash.ctx.clock(), idle=dash.options.idle) if token else None
    if live is None:
        return None
    employee = live.employee
    assert employee.id is not None
    principal = Principal(
        employee_id=employee.id, key=employee.key, role=role_of(employee), token_id=0, remote_addr=remote(request)
    )
    return User(principal=principal, session=live)


def staff_viewer(dash: DashboardContext, request: Request, session: Session) -> User | Response:
    """Who is asking for a page on inquiries, if logged in and their role works on them; otherwise
    the answer to give instead (the login page, or 403)."""
    user = current_user(dash, request, session)
    if user is None:
        return to_login(request)
    if not sees_inquiries(user):
        return problem(dash, 403, N_("Your role has no access to inquiries."), user)
    return user


def staff_sender(dash: DashboardContext, request: Request, session: Session, form: dict[str, str]) -> User | Response:
    """Who posted the form (as :func:`form_sender`), if their role works on inquiries."""
    user = form_sender(dash, request, session, form)
    if isinstance(user, Response) or sees_inquiries(user):
        return user
    return problem(dash, 403, N_("Your role has no access to inquiries."), user)


def form_sender(dash: DashboardContext, request: Request, session: Session, form: dict[str, str]) -> User | Response:
    """Who posted the form, if logged in and the form carries this session's CSRF token;
    otherwise the answer to give instead."""
    user = current_user(dash, request, session)
    if user is None:
        return to_login(request)
    if not same_token(form.get("csrf"), user.session.csrf_token):
        return problem(dash, 403, N_("The form had expired. Reload the page and try again."), user)
    return user
