"""The dashboard's HTTP plumbing: security headers, templates, forms, cookies.

Every dashboard response goes through :class:`DashboardRoute`, which adds the
security headers also to error answers, so no page leaves without them.
Templates are Jinja2 with autoescaping on: whatever a client wrote is shown as
text, never as markup.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from babel.support import Translations
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.exceptions import HTTPException

from ingest.dashboard.labels import LABELS

TEMPLATES = Path(__file__).parent / "templates"
SESSION_COOKIE = "gk_session"
# The language the browser chose (lv, ru, en); not a secret, so readable by the page.
LANGUAGE_COOKIE = "gk_lang"
LOGIN_CSRF_COOKIE = "gk_login_csrf"
MAX_FORM_BYTES = 64 * 1024

# No script at all, no inline styles, nothing from elsewhere; forms post only here; never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


log = logging.getLogger(__name__)
# Set by mount_dashboard: renders the dashboard's own page for an unexpected error (500).
ERROR_PAGE_STATE = "dashboard_error_page"


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


class DashboardRoute(APIRoute):
    """An API route whose every answer, errors included, carries the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except RequestValidationError:
                # The value is not echoed: it may be a client's data.
                response = PlainTextResponse("bad request", status_code=400)
            except HTTPException as exc:
                response = PlainTextResponse(str(exc.detail), status_code=exc.status_code)
            except Exception:  # noqa: BLE001 - answered with a 500 page of our own, headers and all
                log.exception("dashboard: %s %s failed (500)", request.method, request.url.path)
                response = internal_error(request)
            return secure(response)

        return handler


def internal_error(request: Request) -> Response:
    """The 500 page: the dashboard's error page when it can be drawn, else a line of text."""
    render = getattr(request.app.state, ERROR_PAGE_STATE, None)
    if render is not None:
        try:
            response: Response = render(request)
            return response
        except Exception:  # noqa: BLE001 - the plain answer below is still a 500
            log.exception("dashboard: the error page failed too")
    return PlainTextResponse("internal error", status_code=500)


def template_environment(tz: ZoneInfo, translations: Translations) -> Environment:
    """The page renderer of one language: its catalog, the office's time zone and date format."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: client text is always escaped
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension

    def local(at: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
        return at.astimezone(tz).strftime(fmt) if at else "—"

    def percent(share: float | None) -> str:
        return "—" if share is None else f"{share * 100:.0f} %"

    def label(value: str | None) -> str:
        """A stored code (status, kind, channel, event type) in the page's language."""
        return translations.gettext(LABELS[value]) if value in LABELS else (value or "—")

    env.filters["local"] = local
    env.filters["percent"] = percent
    env.filters["label"] = label
    return env


def html(env: Environment, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(**values), status_code=status)


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as one value per name (the last wins);
    anything else, or a body over MAX_FORM_BYTES, is an empty form (refused by the CSRF check)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[-1] for name, values in parsed.items()}


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def set_cookie(
    response: Response, name: str, value: str, *, secure_cookie: bool, max_age: int | None, path: str
) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="strict", secure=secure_cookie)


def safe_next(value: str | None) -> str:
    """Where to go after the login: only a dashboard path of this site (no open redirect)."""
    if value and value.startswith("/dashboard") and "//" not in value and "\\" not in value and "\n" not in value:
        return value
    return "/dashboard"
