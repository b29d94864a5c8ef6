"""``/api/v1/inquiries``: list, read, and the changes staff make to an inquiry.

Every route authenticates (``Caller``), loads the inquiry the caller may see (404 alike
otherwise, as if it did not exist), checks that the caller may make the change, calls one
service function of ingest/inquiries/, writes its audit row in the same transaction, and shapes
the answer (ingest/api/shapes.py).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at import time.

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlmodel import Session

from ingest.api.auth import INQUIRY_ROLES, Caller, Context, Principal, require_roles
from ingest.api.errors import ERROR_RESPONSES, ApiError
from ingest.api.schemas import (
    KEY_PATTERN,
    MAX_ID,
    AnswerOut,
    CloseIn,
    ComplexityIn,
    InquiryDetail,
    InquiryList,
    InquirySummary,
    MergeIn,
    NoteOut,
    ReassignIn,
    TextIn,
    WaitingIn,
)
from ingest.api.shapes import attachment_response, detail, summaries, summary_of
from ingest.inquiries import audit
from ingest.inquiries.access import Action, can_act, can_merge, can_see, visible
from ingest.inquiries.answering import answer as answer_client
from ingest.inquiries.closing import close, reopen
from ingest.inquiries.complexity import change_complexity
from ingest.inquiries.errors import InquiryError, UnknownEmployee
from ingest.inquiries.merging import merge
from ingest.inquiries.notes import add_note as note_on
from ingest.inquiries.reassign import reassign
from ingest.inquiries.search import FIRST_DAY, LAST_DAY, InquiryFilters, conditions, prepare
from ingest.inquiries.waiting import set_waiting as wait_for_client
from storage import inquiry_repo, repo
from storage.actors import Actor
from storage.db import transaction
from storage.models import Employee, Inquiry

MAX_LIMIT = 200

StatusName = Literal["open", "waiting_client", "answered", "closed"]
Reference = Annotated[str, Path(max_length=40, pattern=KEY_PATTERN, description="e.g. GK-2026-000123")]
AttachmentId = Annotated[int, Path(ge=1, le=MAX_ID)]
Key = Annotated[str | None, Query(max_length=64, pattern=KEY_PATTERN)]
ShortKey = Annotated[str | None, Query(max_length=32, pattern=KEY_PATTERN)]
FirstDay = Annotated[
    date | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="first day (office time zone), inclusive")
]
LastDay = Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="last day (office time zone), inclusive")]
Words = Annotated[str | None, Query(max_length=200, description="words in the subject or any message, any case")]

router = APIRouter(prefix="/api/v1/inquiries", tags=["inquiries"], responses=ERROR_RESPONSES)


def visible_inquiry(session: Session, principal: Principal, reference: str) -> Inquiry:
    """The inquiry if it exists and the caller may see it; 404 alike otherwise."""
    require_roles(principal, *INQUIRY_ROLES, what="see inquiries")
    inquiry = repo.inquiry_by_reference(session, reference=reference.strip().upper())
    if inquiry is None or not can_see(session, principal, inquiry):
        raise ApiError(404, "not_found", f"no inquiry {reference!r} that you may see")
    return inquiry


def require_action(session: Session, principal: Principal, inquiry: Inquiry, action: Action) -> None:
    if not can_act(session, principal, inquiry, action):
        who = (
            "the responsible employee"
            if action == Action.ANSWER
            else "the responsible employee, a supervisor or the board"
        )
        raise ApiError(403, "forbidden", f"only {who} may {action.value} on {inquiry.reference}")


def conflict(exc: InquiryError) -> ApiError:
    if isinstance(exc, UnknownEmployee):
        return ApiError(422, "unknown_employee", str(exc))
    return ApiError(409, "conflict", str(exc))


def _author(session: Session, principal: Principal) -> Employee:
    author = session.get(Employee, principal.employee_id)
    assert author is not None
    return author


@router.get("", response_model=InquiryList, summary="Inquiries the caller may see, filtered and paged")
def list_inquiries(
    principal: Caller,
    ctx: Context,
    status: StatusName | None = None,
    channel: ShortKey = None,
    topic: Key = None,
    kind: ShortKey = None,
    employee: Annotated[
        str | None, Query(max_length=64, pattern=KEY_PATTERN, description="the responsible employee's key")
    ] = None,
    overdue: bool | None = None,
    received_from: FirstDay = None,
    received_to: LastDay = None,
    q: Words = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> InquiryList:
    require_roles(principal, *INQUIRY_ROLES, what="see inquiries")
    filters = InquiryFilters(
        status=status, channel=channel, topic=topic, kind=kind, employee=employee, overdue=overdue,
        received_from=received_from, received_to=received_to, q=q,
    )  # fmt: skip
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        dialect = prepare(session)
        where = [visible(principal, dialect), *conditions(filters, dialect=dialect, now=now, tz=ctx.tz)]
        total, rows = inquiry_repo.inquiry_page(session, where=where, limit=limit, offset=offset)
        items = summaries(session, rows, now)
        # The list shows clients' names and addresses: a read of personal data, logged with
        # the references shown and the names (not the values) of the filters.
        audit.record(
            session, principal=principal, action="inquiry.list", now=now,
            detail={"filters": filters.used(), "references": [i.reference for i in items], "total": total},
        )  # fmt: skip
    return InquiryList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{reference}", response_model=InquiryDetail, summary="One inquiry: contact, messages, attachments, events")
def get_inquiry(principal: Caller, ctx: Context, reference: Reference) -> InquiryDetail:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        shaped = detail(session, inquiry, now)
        audit.record(session, principal=principal, action="inquiry.read", now=now, inquiry_id=inquiry.id,
                     detail={"reference": inquiry.reference})  # fmt: skip
    return shaped


@router.get(
    "/{reference}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the attachment's bytes"}},
    summary="Download an attachment (always as a download, never rendered)",
)
def download(principal: Caller, ctx: Context, reference: Reference, attachment_id: AttachmentId) -> Response:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        assert inquiry.id is not None
        row = inquiry_repo.attachment_on(session, inquiry_id=inquiry.id, attachment_id=attachment_id)
        if row is None:
            raise ApiError(404, "not_found", f"no attachment {attachment_id} on {inquiry.reference}")
        if row.data is None:
            raise ApiError(
                404, "not_stored", f"attachment {attachment_id} was not stored: {row.omitted_reason or 'unknown'}"
            )
        audit.record(session, principal=principal, action="attachment.download", now=now, inquiry_id=inquiry.id,
                     detail={"reference": inquiry.reference, "attachment_id": attachment_id})  # fmt: skip
        data, ctype, filename = row.data, row.content_type, row.filename
    return attachment_response(data, content_type=ctype, filename=filename, attachment_id=attachment_id)


@router.post("/{reference}/reassign", response_model=InquirySummary, summary="Give the inquiry to another employee")
def reassign_inquiry(principal: Caller, ctx: Context, reference: Reference, body: ReassignIn) -> InquirySummary:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        require_action(session, principal, inquiry, Action.REASSIGN)
        old = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
        try:
            reassign(session, inquiry=inquiry, to_employee=body.employee, actor=Actor.employee(principal.key),
                     reason=body.reason, notices=ctx.notices, calendar=ctx.calendar, policy=ctx.policy, now=now,
                     reason_code=body.reason_code)  # fmt: skip
        except InquiryError as exc:
            raise conflict(exc) from None
        audit.record(
            session, principal=principal, action="inquiry.reassign", now=now, inquiry_id=inquiry.id,
            detail={"reference": inquiry.reference, "from": old.key if old else None, "to": body.employee},
        )  # fmt: skip
        out = summary_of(session, inquiry, now)
    ctx.wake_outbox()
    return out


@router.post(
    "/{reference}/complexity", response_model=InquirySummary, summary="Change complexity; the due date follows"
)
def set_complexity(principal: Caller, ctx: Context, reference: Reference, body: ComplexityIn) -> InquirySummary:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        require_action(session, principal, inquiry, Action.COMPLEXITY)
        try:
            old = change_complexity(
                session, inquiry=inquiry, complexity=body.complexity, working_days=ctx.working_days(body.complexity),
                actor=Actor.employee(principal.key), calendar=ctx.calendar, policy=ctx.policy, now=now,
            )  # fmt: skip
        except InquiryError as exc:
            raise conflict(exc) from None
        audit.record(
            session, principal=principal, action="inquiry.complexity", now=now, inquiry_id=inquiry.id,
            detail={"reference": inquiry.reference, "from": old, "to": body.complexity},
        )  # fmt: skip
        return summary_of(session, inquiry, now)


@router.post(
    "/{reference}/waiting", response_model=InquirySummary, summary="Stop or restart the clock (waiting for the client)"
)
def set_waiting(principal: Caller, ctx: Context, reference: Reference, body: WaitingIn) -> InquirySummary:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        require_action(session, principal, inquiry, Action.WAITING)
        try:
            wait_for_client(session, inquiry=inquiry, waiting=body.waiting, actor=Actor.employee(principal.key),
                            calendar=ctx.calendar, policy=ctx.policy, now=now)  # fmt: skip
        except InquiryError as exc:
            raise conflict(exc) from None
        audit.record(session, principal=principal, action="inquiry.waiting", now=now, inquiry_id=inquiry.id,
                     detail={"reference": inquiry.reference, "waiting": body.waiting})  # fmt: skip
        return summary_of(session, inquiry, now)


@router.post("/{reference}/answer", response_model=AnswerOut, summary="Answer the client on their channel")
def answer(principal: Caller, ctx: Context, reference: Reference, body: TextIn) -> AnswerOut:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        require_action(session, principal, inquiry, Action.ANSWER)
        try:
            message, sent = answer_client(session, inquiry=inquiry, author=_author(session, principal), text=body.text,
                                   notices=ctx.notices, via="api", now=now)  # fmt: skip
        except InquiryError as exc:
            raise conflict(exc) from None
        audit.record(
            session, principal=principal, action="inquiry.answer", now=now, inquiry_id=inquiry.id,
            detail={"reference": inquiry.reference, "message_id": message.id, "outbox_id": sent.id if sent else None},
        )  # fmt: skip
        out = AnswerOut(inquiry=summary_of(session, inquiry, now), sent_on=sent.channel if sent else None,
                        outbox_id=sent.id if sent else None)  # fmt: skip
    ctx.wake_outbox()
    return out


@router.post(
    "/{reference}/notes",
    response_model=NoteOut,
    status_code=201,
    summary="Add an internal note (never shown to the client)",
)
def add_note(principal: Caller, ctx: Context, reference: Reference, body: TextIn) -> NoteOut:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        require_action(session, principal, inquiry, Action.NOTE)
        message = note_on(session, inquiry=inquiry, author=_author(session, principal), text=body.text, via="api",
                           now=now)  # fmt: skip
        assert message.id is not None
        audit.record(session, principal=principal, action="inquiry.note", now=now, inquiry_id=inquiry.id,
                     detail={"reference": inquiry.reference, "message_id": message.id})  # fmt: skip
        return NoteOut(inquiry=summary_of(session, inquiry, now), message_id=message.id)


@router.post(
    "/{reference}/close", response_model=InquirySummary, summary="Close without writing to the client, with a reason"
)
def close_inquiry(principal: Caller, ctx: Context, reference: Reference, body: CloseIn) -> InquirySummary:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        require_action(session, principal, inquiry, Action.CLOSE)
        try:
            close(session, inquiry=inquiry, reason=body.reason, actor=Actor.employee(principal.key), now=now)
        except InquiryError as exc:
            raise conflict(exc) from None
        audit.record(session, principal=principal, action="inquiry.close", now=now, inquiry_id=inquiry.id,
                     detail={"reference": inquiry.reference, "reason": body.reason})  # fmt: skip
        return summary_of(session, inquiry, now)


@router.post("/{reference}/reopen", response_model=InquirySummary, summary="Open an answered or closed inquiry again")
def reopen_inquiry(principal: Caller, ctx: Context, reference: Reference) -> InquirySummary:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        inquiry = visible_inquiry(session, principal, reference)
        require_action(session, principal, inquiry, Action.REOPEN)
        try:
            reopen(session, inquiry=inquiry, actor=Actor.employee(principal.key), now=now)
        except InquiryError as exc:
            raise conflict(exc) from None
        audit.record(session, principal=principal, action="inquiry.reopen", now=now, inquiry_id=inquiry.id,
                     detail={"reference": inquiry.reference})  # fmt: skip
        return summary_of(session, inquiry, now)


@router.post(
    "/{reference}/merge",
    response_model=InquirySummary,
    summary="Merge into another inquiry of the same client; answers with that inquiry",
)
def merge_inquiry(principal: Caller, ctx: Context, reference: Reference, body: MergeIn) -> InquirySummary:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        source = visible_inquiry(session, principal, reference)
        target = visible_inquiry(session, principal, body.into)
        if not can_merge(session, principal, source, target):
            raise ApiError(
                403, "forbidden",
                f"only the responsible employee, a supervisor or the board of both {source.reference} and "
                f"{target.reference} may merge them",
            )  # fmt: skip
        try:
            merge(session, source=source, target=target, actor=Actor.employee(principal.key), calendar=ctx.calendar,
                  policy=ctx.policy, now=now)  # fmt: skip
        except InquiryError as exc:
            raise conflict(exc) from None
        audit.record(session, principal=principal, action="inquiry.merge", now=now, inquiry_id=source.id,
                     detail={"reference": source.reference, "into": target.reference})  # fmt: skip
        return summary_of(session, target, now)
