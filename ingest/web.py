"""The HTTP application: health now; webhooks and the staff API plug in here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from ingest.api.errors import install_error_handlers
from storage import repo
from storage.db import SessionFactory
from storage.models import Outbox, Receipt


def create_app(
    *,
    sessions: SessionFactory,
    components: Callable[[], dict[str, str]],
    routers: Sequence[APIRouter] = (),
    metrics: CollectorRegistry | None = None,
    leadership: Callable[[], dict[str, str]] | None = None,
) -> FastAPI:
    app = FastAPI(title="Inquiry service", version="0.1.0")
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
        def prometheus_metrics() -> Response:
            # A plain def: FastAPI runs it in a thread, so the database queries never block the loop.
            return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    return app
