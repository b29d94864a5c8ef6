"""The staff REST API (``/api/v1``), assembled from its parts for the HTTP application.

The routes are module-level functions; what they need from the running service comes from
the app they are mounted on (``app.state.api_context``, set by :func:`mount_staff_api`).
``install_error_handlers`` (ingest/api/errors.py) gives their errors one JSON shape.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from ingest.api import contacts, inquiries, interactions, staff
from ingest.api.context import ApiContext


def staff_api_routers() -> list[APIRouter]:
    return [staff.router, inquiries.router, interactions.router, contacts.router]


def mount_staff_api(app: FastAPI, ctx: ApiContext) -> None:
    """The staff API's routes on ``app``, answering with the service's ``ctx``."""
    app.state.api_context = ctx
    for router in staff_api_routers():
        app.include_router(router)
