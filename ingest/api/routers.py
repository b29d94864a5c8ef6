"""The staff REST API (``/api/v1``), assembled from its parts for the HTTP application.

``staff_api_routers`` gives the routers; ``install_error_handlers``
(ingest/api_errors.py) gives their errors one JSON shape. Both are called by
the service when it builds the app; nothing here is global.
"""

from __future__ import annotations

from fastapi import APIRouter

from ingest.api.auth import authenticator
from ingest.api.context import ApiContext
from ingest.api.inquiries import inquiries_router
from ingest.api.interactions import interactions_router
from ingest.api.staff import staff_router


def staff_api_routers(ctx: ApiContext) -> list[APIRouter]:
    authenticate = authenticator(ctx)
    return [
        staff_router(ctx, authenticate),
        inquiries_router(ctx, authenticate),
        interactions_router(ctx, authenticate),
    ]
