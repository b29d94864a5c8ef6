"""The HTTP application: health now; webhooks and the staff API plug in here."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from ingest.api.errors import install_error_handlers
from storage import repo
from storage.db import SessionFactory
from storage.models import Outbox, Receipt

# The API's documentation pages (/docs: Swagger UI, /redoc: ReDoc) load their scripts, stylesheet and
# icon from here: the fastapi-offline package ships them (Swagger UI: Apache-2.0, ReDoc: MIT). FastAPI's
# own pages load them from a CDN and stay blank on a closed network.
DOCS_ASSETS = "/docs-assets"
# Nothing from elsewhere, whatever the scripts try: ReDoc shows Redocly's logo from their CDN (refused
# here, it hides itself), Swagger UI would ask validator.swagger.io about the schema (also turned off).
# The pages' own start-up scripts are inline, and both libraries set inline styles.
DOCS_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(
    *,
    sessions: SessionFactory,
    components: Callable[[], dict[str, str]],
    routers: Sequence[APIRouter] = (),
    metrics: CollectorRegistry | None = None,
    leadership: Callable[[], dict[str, str]] | None = None,
    metrics_token: str = "",
    hsts: bool = False,
) -> FastAPI:
    app = FastAPI(title="Inquiry service", version="0.1.0", docs_url=None, redoc_url=None)
    if hsts:
        add_hsts(app)
    mount_docs(app)
    # The staff API's errors share one JSON shape; other paths keep FastAPI's answers.
    install_error_handlers(app)
    # Receivers with HTTP endpoints (webhooks) bring their own routers.
    for extra in routers:
        app.include_router(extra)

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        body: dict[str, Any] = {"components": components()}
        if leadership is not None:
            # Roles that run in one process at a time: "leader" here, "follower" (standing by).
            body["leadership"] = leadership()
        try:
            with sessions() as session:
                session.execute(text("SELECT 1"))
                body["receipts"] = repo.count_by_status(session, Receipt)
                body["outbox"] = repo.count_by_status(session, Outbox)
            body["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            body["database"] = f"error: {type(exc).__name__}"
        healthy = body["database"] == "ok" and all(
            state in ("running", "listening", "disabled", "standby") for state in body["components"].values()
        )
        body["status"] = "ok" if healthy else "degraded"
        return JSONResponse(body, status_code=200 if body["database"] == "ok" else 503)

    if metrics is not None:

        @app.get("/metrics", tags=["operations"], include_in_schema=False)
        def prometheus_metrics(request: Request) -> Response:
            # A plain def: FastAPI runs it in a thread, so the database queries never block the loop.
            if metrics_token and not _bearer_is(request, metrics_token):
                return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
            return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    return app


# Served over https only (behind the TLS proxy, [http] secure_cookies): browsers remember to come back so.
HSTS = "max-age=31536000"


def add_hsts(app: FastAPI) -> None:
    """Every answer carries Strict-Transport-Security."""

    @app.middleware("http")
    async def strict_transport(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers["Strict-Transport-Security"] = HSTS
        return response


def _bearer_is(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def mount_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """/docs and /redoc as FastAPI makes them, but with every script, stylesheet and icon from
    :data:`DOCS_ASSETS` on this service (``/openapi.json`` stays where it is)."""
    assert app.openapi_url is not None and app.swagger_ui_oauth2_redirect_url is not None
    openapi_url, oauth2_redirect_url = app.openapi_url, app.swagger_ui_oauth2_redirect_url
    app.mount(DOCS_ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")

    def secured(page: HTMLResponse) -> HTMLResponse:
        page.headers.update(DOCS_SECURITY_HEADERS)
        return page

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return secured(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=oauth2_redirect_url,
                swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
            )
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return secured(get_swagger_ui_oauth2_redirect_html())

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return secured(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                with_google_fonts=False,
            )
        )
