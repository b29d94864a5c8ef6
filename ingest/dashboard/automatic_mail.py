"""The workspace's list "Automātiskās vēstules" (``/dashboard/automatic``): automatic mail kept
without an inquiry (bounces, auto-replies, read receipts, newsletters from listed senders), each
with the reason it was kept, so that no client's mail disappears unseen; one click opens an
inquiry from it (audited), never acknowledged to the sender (RFC 3834)."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ingest.dashboard.deps import (
    VIA,
    Dashboard,
    Form,
    page,
    staff_sender,
    staff_viewer,
)
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit
from storage import automatic_repo
from storage.db import transaction

PAGE_SIZE = 50

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@router.get("/automatic")
def automatic_list(request: Request, dash: Dashboard, page_no: int = 1, done: str = "") -> Response:
    page_no = max(1, min(page_no, 10_000))
    with transaction(dash.ctx.sessions) as session:
        user = staff_viewer(dash, request, session)
        if isinstance(user, Response):
            return user
        total, receipts = automatic_repo.kept_automatic(session, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
        items = [
            {"id": r.id, "received_at": r.received_at, "outcome": r.meta.get("outcome") or {},
             "queued": bool(r.meta.get("open_as_inquiry"))}
            for r in receipts
        ]  # fmt: skip
    more = page_no * PAGE_SIZE < total
    return page(dash, "automatic_mail.html", user=user, csrf=user.session.csrf_token, items=items, total=total,
                page_no=page_no, more=more, done=done if done in ("queued", "gone") else "")  # fmt: skip


@router.post("/automatic/{receipt_id}/inquiry")
def open_inquiry(request: Request, dash: Dashboard, receipt_id: int, form: Form) -> Response:
    """The message processed again as a client's: its inquiry opens once the pipeline takes it."""
    now = dash.ctx.clock()
    with transaction(dash.ctx.sessions) as session:
        user = staff_sender(dash, request, session, form)
        if isinstance(user, Response):
            return user
        opened_by = {"by": user.principal.key, "at": now.isoformat()}
        receipt = automatic_repo.queue_as_inquiry(session, receipt_id=receipt_id, opened_by=opened_by, now=now)
        if receipt is None:
            return RedirectResponse("/dashboard/automatic?done=gone", status_code=303)
        outcome = receipt.meta.get("outcome") or {}
        audit.record(session, principal=user.principal, action="automatic.open_inquiry", now=now,
                     detail={**VIA, "receipt_id": receipt_id, "kind": outcome.get("automatic"),
                             "why": outcome.get("why")})  # fmt: skip
    return RedirectResponse("/dashboard/automatic?done=queued", status_code=303)
