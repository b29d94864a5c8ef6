"""``POST /api/v1/interactions``: a phone call or an in-person visit, logged by staff (clauses 6,
10.2); ingest/inquiries/interactions.py makes it an inquiry, or, given the inquiry it was about,
ingest/inquiries/call_logging.py logs it there (a call back: its task is then done)."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at import time.

from datetime import datetime

from fastapi import APIRouter
from sqlmodel import Session

from ingest.api.auth import INQUIRY_ROLES, Caller, Context, Principal, require_roles
from ingest.api.errors import ERROR_RESPONSES, ApiError
from ingest.api.inquiries import conflict, require_action, visible_inquiry
from ingest.api.schemas import InteractionIn, InteractionOut
from ingest.api.shapes import summary_of
from ingest.inquiries import audit
from ingest.inquiries.access import Action
from ingest.inquiries.call_logging import log_on_inquiry
from ingest.inquiries.errors import InquiryError
from ingest.inquiries.interactions import Desk, Interaction, Logged
from ingest.inquiries.interactions import log_interaction as log_as_inquiry
from storage import merge_repo
from storage.db import transaction
from storage.models import Employee

router = APIRouter(prefix="/api/v1/interactions", tags=["interactions"], responses=ERROR_RESPONSES)


@router.post("", response_model=InteractionOut, status_code=201, summary="Log a phone call or a visit as an inquiry")
def log_interaction(principal: Caller, ctx: Context, body: InteractionIn) -> InteractionOut:
    require_roles(principal, *INQUIRY_ROLES, what="log calls and visits")
    now = ctx.clock()
    received_at = body.at or now
    window = ctx.interaction_window
    why = window.problem(received_at, now)
    if why == "future":
        minutes = int(window.future_skew.total_seconds() // 60)
        raise ApiError(422, "invalid_request", f"at: lies in the future (more than {minutes} minutes ahead)")
    if why is not None:
        raise ApiError(422, "invalid_request", f"at: lies more than {window.max_age.days} days back")
    if body.topic is not None and body.topic not in {t.key for t in ctx.router.topics}:
        raise ApiError(422, "unknown_topic", f"no topic {body.topic!r}")
    entry = Interaction(
        channel=body.channel, text=body.text, received_at=received_at, client_name=body.client_name,
        email=body.email, phone=body.phone, topic=body.topic, language=body.language, complexity=body.complexity,
        route=body.route, suggested_written=body.suggested_written,
    )  # fmt: skip
    with transaction(ctx.sessions) as session:
        logger = session.get(Employee, principal.employee_id)
        assert logger is not None
        if body.inquiry is None:
            logged = log_as_inquiry(session, entry=entry, logger=logger, desk=ctx.desk, now=now)
        else:
            logged = _on_inquiry(session, principal, body.inquiry, entry, logger, ctx.desk, now)
        inquiry, sent = logged.inquiry, logged.written_form
        audit.record(
            session, principal=principal, action="interaction.log", now=now, inquiry_id=inquiry.id,
            detail={"reference": inquiry.reference, "channel": body.channel, "assigned_to": logged.employee_key,
                    "written_form_outbox_id": sent.id if sent else None, "on_inquiry": body.inquiry is not None,
                    "call_back_done": logged.call_back_done},
        )  # fmt: skip
        out = InteractionOut(
            inquiry=summary_of(session, inquiry, now), written_form_sent_on=sent.channel if sent else None,
            call_back_done=logged.call_back_done,
        )  # fmt: skip
    if logged.queued:
        ctx.wake_outbox()
    return out


def _on_inquiry(
    session: Session,
    principal: Principal,
    reference: str,
    entry: Interaction,
    logger: Employee,
    desk: Desk,
    now: datetime,
) -> Logged:
    """Logged on the inquiry it was about (the one it was merged into, if it was), by anyone who
    may add a note to it: found and locked before anything is decided, so that a merge committed
    meanwhile is seen and one still running waits (storage/merge_repo.py)."""
    inquiry = merge_repo.locked_final(session, visible_inquiry(session, principal, reference))
    require_action(session, principal, inquiry, Action.NOTE)
    try:
        return log_on_inquiry(session, entry=entry, inquiry=inquiry, logger=logger, desk=desk, now=now)
    except InquiryError as exc:
        raise conflict(exc) from None
