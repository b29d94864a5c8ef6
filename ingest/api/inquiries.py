"""``/api/v1/inquiries``: list, read, and the changes staff make to an inquiry.

Every route authenticates, checks the role and the inquiry's visibility
(ingest/access.py), does its work and writes its audit row in one transaction.
An inquiry the caller may not see is answered 404, as if it did not exist.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, and the
# `Caller` alias is local to the router factory, so they must be evaluated where they are written.

import secrets
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from ingest.api.auth import INQUIRY_ROLES, Principal, require_roles
from ingest.api.context import ApiContext
from ingest.api.errors import ERROR_RESPONSES, ApiError
from ingest.api.schemas import (
    KEY_PATTERN,
    MAX_ID,
    AnswerOut,
    AttachmentOut,
    ComplexityIn,
    ContactOut,
    EventOut,
    InquiryDetail,
    InquiryList,
    InquirySummary,
    MessageOut,
    NoteOut,
    ReassignIn,
    TextIn,
    WaitingIn,
)
from ingest.inquiries import audit
from ingest.inquiries.access import Action, can_act, can_see, visible
from ingest.inquiries.answering import mark_answered
from ingest.inquiries.changes import InquiryError, reassign
from ingest.inquiries.clock import pause_clock, resume_clock, schedule_alarms
from ingest.inquiries.search import InquiryFilters, conditions, prepare
from storage import repo
from storage.db import transaction
from storage.models import (
    OPEN_STATUSES,
    Attachment,
    Contact,
    Direction,
    Employee,
    Event,
    Inquiry,
    InquiryStatus,
    Message,
)

MAX_LIMIT = 200

# Served with their own type; anything else (HTML, SVG, XML, scripts, unknown) as a download of
# application/octet-stream, so a browser never renders or runs what a client sent.
INLINE_SAFE_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/heic",
        "image/tiff",
        "image/bmp",
        "text/plain",
        "text/csv",
        "audio/mpeg",
        "audio/ogg",
        "audio/amr",
        "video/mp4",
        "application/zip",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
    }
)

StatusName = Literal["open", "waiting_client", "answered", "closed"]
Reference = Annotated[str, Path(max_length=40, pattern=KEY_PATTERN, description="e.g. GK-2026-000123")]


# -- shaping ----------------------------------------------------------------------------------


def contact_out(contact: Contact) -> ContactOut:
    assert contact.id is not None
    return ContactOut(
        id=contact.id,
        kind=contact.kind,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        whatsapp_id=contact.whatsapp_id,
        preferred_language=contact.preferred_language,
    )


def summary(inquiry: Inquiry, contact: Contact, employee_key: str | None, now: datetime) -> InquirySummary:
    overdue = inquiry.status == InquiryStatus.OPEN.value and inquiry.due_at is not None and inquiry.due_at < now
    return InquirySummary(
        reference=inquiry.reference,
        channel=inquiry.channel,
        kind=inquiry.kind,
        topic=inquiry.topic,
        complexity=inquiry.complexity,
        language=inquiry.language,
        subject=inquiry.subject,
        status=inquiry.status,
        employee=employee_key,
        received_at=inquiry.received_at,
        due_at=inquiry.due_at,
        first_response_at=inquiry.first_response_at,
        answered_at=inquiry.answered_at,
        clock_paused_at=inquiry.clock_paused_at,
        overdue=overdue,
        contact=contact_out(contact),
    )


def summary_of(session: Session, inquiry: Inquiry, now: datetime) -> InquirySummary:
    contact = session.get(Contact, inquiry.contact_id)
    assert contact is not None
    employee = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
    return summary(inquiry, contact, employee.key if employee else None, now)


def _detail(session: Session, inquiry: Inquiry, now: datetime) -> InquiryDetail:
    messages = session.exec(
        select(Message).where(Message.inquiry_id == inquiry.id).order_by(col(Message.received_at), col(Message.id))
    ).all()
    ids = [m.id for m in messages]
    attachments: dict[int, list[AttachmentOut]] = {}
    if ids:
        rows = session.exec(
            select(
                Attachment.id, Attachment.message_id, Attachment.filename, Attachment.content_type,
                Attachment.size, Attachment.omitted_reason, col(Attachment.data).is_not(None),
            )
            .where(col(Attachment.message_id).in_(ids))
            .order_by(col(Attachment.id))
        ).all()  # fmt: skip
        for a_id, m_id, filename, ctype, size, omitted, stored in rows:
            attachments.setdefault(m_id, []).append(
                AttachmentOut(
                    id=a_id,
                    filename=filename,
                    content_type=ctype,
                    size=size,
                    stored=bool(stored),
                    omitted_reason=omitted,
                )
            )
    events = session.exec(
        select(Event).where(Event.inquiry_id == inquiry.id).order_by(col(Event.at), col(Event.id))
    ).all()
    base = summary_of(session, inquiry, now)
    return InquiryDetail(
        **base.model_dump(),
        messages=[
            MessageOut(
                id=m.id, direction=m.direction, channel=m.channel, sender=m.sender, sender_name=m.sender_name,
                subject=m.subject, text=m.text, received_at=m.received_at, attachments=attachments.get(m.id, []),
            )
            for m in messages
            if m.id is not None
        ],
        events=[EventOut(id=e.id, at=e.at, type=e.type, actor=e.actor, data=e.data) for e in events if e.id is not None],
    )  # fmt: skip


def _disposition(filename: str | None, attachment_id: int) -> str:
    name = (filename or f"attachment-{attachment_id}").replace("\r", " ").replace("\n", " ")
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def served_type(content_type: str) -> str:
    main = content_type.split(";", 1)[0].strip().lower()
    if main not in INLINE_SAFE_TYPES:
        return "application/octet-stream"
    if main.startswith("text/"):
        # The client's own parameters are not passed on: "text/plain;charset=x, text/html" would
        # let a browser pick the last type.
        return f"{main}; charset=utf-8"
    return main


# -- the routes -------------------------------------------------------------------------------


def inquiries_router(ctx: ApiContext, authenticate: Callable[..., Principal]) -> APIRouter:
    api = APIRouter(prefix="/api/v1/inquiries", tags=["inquiries"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(authenticate)]

    def _load(session: Session, principal: Principal, reference: str) -> Inquiry:
        """The inquiry if it exists and the caller may see it; 404 alike otherwise."""
        require_roles(principal, *INQUIRY_ROLES, what="see inquiries")
        inquiry = repo.inquiry_by_reference(session, reference=reference.strip().upper())
        if inquiry is None or not can_see(session, principal, inquiry):
            raise ApiError(404, "not_found", f"no inquiry {reference!r} that you may see")
        return inquiry

    def _may(session: Session, principal: Principal, inquiry: Inquiry, action: Action) -> None:
        if not can_act(session, principal, inquiry, action):
            who = (
                "the responsible employee"
                if action == Action.ANSWER
                else "the responsible employee, a supervisor or the board"
            )
            raise ApiError(403, "forbidden", f"only {who} may {action.value} on {inquiry.reference}")

    @api.get("", response_model=InquiryList, summary="Inquiries the caller may see, filtered and paged")
    def list_inquiries(
        principal: Caller,
        status: StatusName | None = None,
        channel: str | None = Query(default=None, max_length=32, pattern=KEY_PATTERN),
        topic: str | None = Query(default=None, max_length=64, pattern=KEY_PATTERN),
        kind: str | None = Query(default=None, max_length=32, pattern=KEY_PATTERN),
        employee: str | None = Query(
            default=None, max_length=64, pattern=KEY_PATTERN, description="the responsible employee's key"
        ),
        overdue: bool | None = None,
        received_from: date | None = Query(default=None, description="first day (office time zone), inclusive"),
        received_to: date | None = Query(default=None, description="last day (office time zone), inclusive"),
        q: str | None = Query(
            default=None, max_length=200, description="words in the subject or any message, any case"
        ),
        limit: int = Query(default=50, ge=1, le=MAX_LIMIT),
        offset: int = Query(default=0, ge=0, le=10_000_000),
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
            total = session.exec(select(func.count(col(Inquiry.id))).where(*where)).one()
            rows = session.exec(
                select(Inquiry, Contact, Employee.key)
                .join(Contact, col(Contact.id) == col(Inquiry.contact_id))
                .outerjoin(Employee, col(Employee.id) == col(Inquiry.employee_id))
                .where(*where)
                .order_by(col(Inquiry.received_at).desc(), col(Inquiry.id).desc())
                .limit(limit)
                .offset(offset)
            ).all()
            items = [summary(inquiry, contact, key, now) for inquiry, contact, key in rows]
            # The list shows clients' names and addresses: a read of personal data, logged with
            # the references shown and the names (not the values) of the filters.
            audit.record(
                session, principal=principal, action="inquiry.list", now=now,
                detail={"filters": filters.used(), "references": [i.reference for i in items], "total": int(total)},
            )  # fmt: skip
        return InquiryList(items=items, total=int(total), limit=limit, offset=offset)

    @api.get(
        "/{reference}", response_model=InquiryDetail, summary="One inquiry: contact, messages, attachments, events"
    )
    def get_inquiry(principal: Caller, reference: Reference) -> InquiryDetail:
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            inquiry = _load(session, principal, reference)
            detail = _detail(session, inquiry, now)
            audit.record(session, principal=principal, action="inquiry.read", now=now, inquiry_id=inquiry.id,
                         detail={"reference": inquiry.reference})  # fmt: skip
        return detail

    @api.get(
        "/{reference}/attachments/{attachment_id}",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}, "description": "the attachment's bytes"}},
        summary="Download an attachment (always as a download, never rendered)",
    )
    def download(
        principal: Caller, reference: Reference, attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)]
    ) -> Response:
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            inquiry = _load(session, principal, reference)
            row = session.exec(
                select(Attachment)
                .join(Message, col(Message.id) == col(Attachment.message_id))
                .where(col(Attachment.id) == attachment_id, col(Message.inquiry_id) == inquiry.id)
            ).first()
            if row is None:
                raise ApiError(404, "not_found", f"no attachment {attachment_id} on {inquiry.reference}")
            if row.data is None:
                raise ApiError(
                    404, "not_stored", f"attachment {attachment_id} was not stored: {row.omitted_reason or 'unknown'}"
                )
            audit.record(session, principal=principal, action="attachment.download", now=now, inquiry_id=inquiry.id,
                         detail={"reference": inquiry.reference, "attachment_id": attachment_id})  # fmt: skip
            data, ctype, filename = row.data, row.content_type, row.filename
        return Response(
            content=data,
            media_type=served_type(ctype),
            headers={
                "Content-Disposition": _disposition(filename, attachment_id),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
            },
        )

    @api.post("/{reference}/reassign", response_model=InquirySummary, summary="Give the inquiry to another employee")
    def reassign_inquiry(principal: Caller, reference: Reference, body: ReassignIn) -> InquirySummary:
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            inquiry = _load(session, principal, reference)
            _may(session, principal, inquiry, Action.REASSIGN)
            target = session.exec(select(Employee).where(Employee.key == body.employee)).first()
            if target is None or not target.active:
                raise ApiError(422, "unknown_employee", f"no active employee {body.employee!r}")
            previous = inquiry.employee_id
            try:
                reassign(session, inquiry=inquiry, to_employee=body.employee, actor=principal.key, reason=body.reason,
                         notices=ctx.notices, now=now)  # fmt: skip
            except InquiryError as exc:
                raise ApiError(409, "conflict", str(exc)) from None
            old = session.get(Employee, previous) if previous else None
            audit.record(session, principal=principal, action="inquiry.reassign", now=now, inquiry_id=inquiry.id,
                         detail={"reference": inquiry.reference, "from": old.key if old else None, "to": body.employee})  # fmt: skip
            out = summary_of(session, inquiry, now)
        ctx.wake_outbox()
        return out

    @api.post(
        "/{reference}/complexity", response_model=InquirySummary, summary="Change complexity; the due date follows"
    )
    def set_complexity(principal: Caller, reference: Reference, body: ComplexityIn) -> InquirySummary:
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            inquiry = _load(session, principal, reference)
            _may(session, principal, inquiry, Action.COMPLEXITY)
            if inquiry.status not in OPEN_STATUSES:
                raise ApiError(409, "conflict", f"{inquiry.reference} is {inquiry.status}")
            if inquiry.complexity == body.complexity:
                raise ApiError(409, "conflict", f"{inquiry.reference} is already {body.complexity}")
            old_complexity, old_due = inquiry.complexity, inquiry.due_at
            # The due date counts again from receipt with the new number of working days (clause
            # 10.1). Time the inquiry spent waiting for the client is not added back: the clock
            # resumes from the new due date when the client answers.
            counted_from = ctx.calendar.start_of_counting(inquiry.received_at)
            inquiry.complexity = body.complexity
            inquiry.due_at = ctx.calendar.due_at(inquiry.received_at, ctx.working_days(body.complexity))
            inquiry.updated_at = now
            session.add(inquiry)
            assert inquiry.id is not None
            repo.add_event(
                session, inquiry_id=inquiry.id, type="complexity_changed", at=now, actor=principal.key,
                data={"from": old_complexity, "to": body.complexity,
                      "old_due_at": old_due.isoformat() if old_due else None,
                      "due_at": inquiry.due_at.isoformat() if inquiry.due_at else None,
                      "due": ctx.calendar.explain_due(inquiry.received_at, ctx.working_days(body.complexity))},
            )  # fmt: skip
            if inquiry.status == InquiryStatus.OPEN.value:
                # Waiting: no alarms until the client answers (resume_clock schedules them).
                schedule_alarms(
                    session, inquiry=inquiry, calendar=ctx.calendar, policy=ctx.policy, counted_from=counted_from
                )
            audit.record(session, principal=principal, action="inquiry.complexity", now=now, inquiry_id=inquiry.id,
                         detail={"reference": inquiry.reference, "from": old_complexity, "to": body.complexity})  # fmt: skip
            return summary_of(session, inquiry, now)

    @api.post(
        "/{reference}/waiting",
        response_model=InquirySummary,
        summary="Stop or restart the clock (waiting for the client)",
    )
    def set_waiting(principal: Caller, reference: Reference, body: WaitingIn) -> InquirySummary:
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            inquiry = _load(session, principal, reference)
            _may(session, principal, inquiry, Action.WAITING)
            if body.waiting:
                if inquiry.status != InquiryStatus.OPEN.value:
                    raise ApiError(
                        409, "conflict", f"{inquiry.reference} is {inquiry.status}; only an open inquiry can wait"
                    )
                pause_clock(session, inquiry=inquiry, actor=principal.key, now=now)
            else:
                if inquiry.status != InquiryStatus.WAITING_CLIENT.value:
                    raise ApiError(409, "conflict", f"{inquiry.reference} is not waiting for the client")
                resume_clock(session, inquiry=inquiry, calendar=ctx.calendar, policy=ctx.policy, now=now)
            audit.record(session, principal=principal, action="inquiry.waiting", now=now, inquiry_id=inquiry.id,
                         detail={"reference": inquiry.reference, "waiting": body.waiting})  # fmt: skip
            return summary_of(session, inquiry, now)

    @api.post("/{reference}/answer", response_model=AnswerOut, summary="Answer the client on their channel")
    def answer(principal: Caller, reference: Reference, body: TextIn) -> AnswerOut:
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            inquiry = _load(session, principal, reference)
            _may(session, principal, inquiry, Action.ANSWER)
            if inquiry.status == InquiryStatus.CLOSED.value:
                raise ApiError(409, "conflict", f"{inquiry.reference} is closed")
            contact = session.get(Contact, inquiry.contact_id)
            author = session.get(Employee, principal.employee_id)
            assert contact is not None and author is not None and inquiry.id is not None
            sent = ctx.notices.client_answer(session, inquiry=inquiry, contact=contact, text=body.text, now=now)
            message = Message(
                inquiry_id=inquiry.id,
                direction=Direction.OUT.value,
                channel=sent.channel if sent else inquiry.channel,
                external_id=f"api-answer:{secrets.token_hex(16)}",
                sender=author.email,
                sender_name=f"{author.name} {author.surname}",
                subject=inquiry.subject,
                text=body.text,
                received_at=now,
            )
            session.add(message)
            session.flush()
            mark_answered(
                session, inquiry=inquiry, actor=principal.key, message_id=message.id, sent=sent, now=now, via="api"
            )
            audit.record(session, principal=principal, action="inquiry.answer", now=now, inquiry_id=inquiry.id,
                         detail={"reference": inquiry.reference, "message_id": message.id,
                                 "outbox_id": sent.id if sent else None})  # fmt: skip
            out = AnswerOut(inquiry=summary_of(session, inquiry, now), sent_on=sent.channel if sent else None,
                            outbox_id=sent.id if sent else None)  # fmt: skip
        ctx.wake_outbox()
        return out

    @api.post(
        "/{reference}/notes",
        response_model=NoteOut,
        status_code=201,
        summary="Add an internal note (never shown to the client)",
    )
    def add_note(principal: Caller, reference: Reference, body: TextIn) -> NoteOut:
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            inquiry = _load(session, principal, reference)
            _may(session, principal, inquiry, Action.NOTE)
            author = session.get(Employee, principal.employee_id)
            assert author is not None and inquiry.id is not None
            message = Message(
                inquiry_id=inquiry.id,
                direction=Direction.NOTE.value,
                channel=inquiry.channel,
                external_id=f"api-note:{secrets.token_hex(16)}",
                sender=author.email,
                sender_name=f"{author.name} {author.surname}",
                text=body.text,
                received_at=now,
            )
            session.add(message)
            session.flush()
            assert message.id is not None
            repo.add_event(session, inquiry_id=inquiry.id, type="note_added", at=now, actor=principal.key,
                           data={"message_id": message.id, "via": "api"})  # fmt: skip
            audit.record(session, principal=principal, action="inquiry.note", now=now, inquiry_id=inquiry.id,
                         detail={"reference": inquiry.reference, "message_id": message.id})  # fmt: skip
            return NoteOut(inquiry=summary_of(session, inquiry, now), message_id=message.id)

    return api
