"""The dashboard (``/dashboard``), assembled from its parts for the HTTP application.

The routes are module-level functions; what they need from the running service comes from
the app they are mounted on (``app.state.dashboard``, set by :func:`mount_dashboard`).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from ingest.api.context import ApiContext
from ingest.dashboard import (
    automatic_mail,
    contact_links,
    inquiry_actions,
    inquiry_list,
    inquiry_pages,
    interactions,
    login,
    overview,
)
from ingest.dashboard.deps import DashboardContext, DashboardOptions, internal_error_page
from ingest.dashboard.passwords import dummy_hash
from ingest.dashboard.sessions import LoginLimiter
from ingest.dashboard.web import ERROR_PAGE_STATE, template_environment
from ingest.i18n import LANGUAGES


def dashboard_routers() -> list[APIRouter]:
    return [
        login.router,
        overview.router,
        inquiry_list.router,
        inquiry_pages.router,
        inquiry_actions.router,
        interactions.router,
        automatic_mail.router,
        contact_links.router,
    ]


def mount_dashboard(
    app: FastAPI, ctx: ApiContext, options: DashboardOptions, limiter: LoginLimiter | None = None
) -> None:
    """The dashboard's routes on ``app``, answering with the service's ``ctx``; failed logins are
    counted by ``limiter``, by default one of this app's own."""
    catalogs = ctx.notices.catalogs  # compiled once for the service: its staff e-mails use them too
    app.state.dashboard = DashboardContext(
        ctx=ctx,
        options=options,
        limiter=limiter or LoginLimiter(),
        envs={language: template_environment(ctx.tz, catalogs.get(language)) for language in LANGUAGES},
        catalogs=catalogs,
        decoy=dummy_hash(),
    )
    setattr(app.state, ERROR_PAGE_STATE, internal_error_page)
    for router in dashboard_routers():
        app.include_router(router)
