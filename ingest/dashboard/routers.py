"""The dashboard (``/dashboard``), assembled from its parts for the HTTP application.

The routes are module-level functions; what they need from the running service comes from
the app they are mounted on (``app.state.dashboard``, set by :func:`mount_dashboard`).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from ingest.api.context import ApiContext
from ingest.dashboard import inquiry_pages, login, overview
from ingest.dashboard.deps import DashboardContext, DashboardOptions
from ingest.dashboard.passwords import dummy_hash
from ingest.dashboard.sessions import LoginLimiter
from ingest.dashboard.web import template_environment


def dashboard_routers() -> list[APIRouter]:
    return [login.router, overview.router, inquiry_pages.router]


def mount_dashboard(
    app: FastAPI, ctx: ApiContext, options: DashboardOptions, limiter: LoginLimiter | None = None
) -> None:
    """The dashboard's routes on ``app``, answering with the service's ``ctx``; failed logins are
    counted by ``limiter``, by default one of this app's own."""
    app.state.dashboard = DashboardContext(
        ctx=ctx,
        options=options,
        limiter=limiter or LoginLimiter(),
        env=template_environment(ctx.tz),
        decoy=dummy_hash(),
    )
    for router in dashboard_routers():
        app.include_router(router)
