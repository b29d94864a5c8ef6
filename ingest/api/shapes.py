"""The staff API's answers built from stored rows: an inquiry's summary and detail, and how an
attachment is served. The dashboard shows the same shapes."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi.responses import Response
from sqlmodel import Session

from ingest.api.schemas import (
    AttachmentOut,
    ContactOut,
    EventOut,
    InquiryDetail,
    InquirySummary,
    MessageOut,
)
from storage import inquiry_repo, merge_repo
from storage.models import Contact, Employee, Inquiry, InquiryStatus

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


def summary(
    inquiry: Inquiry, contact: Contact, employee_key: str | None, now: datetime, *, merged_into: str | None = None
) -> InquirySummary:
    """``merged_into``: the reference of the inquiry ``inquiry.merged_into_id`` names, if any."""
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
        merged_into=merged_into,
    )


def summaries(session: Session, rows: list[tuple[Inquiry, Contact, str | None]], now: datetime) -> list[InquirySummary]:
    """A page of a list, each with the reference it was merged into (one query for the page)."""
    merged = merge_repo.references_by_id(session, ids=[inquiry.merged_into_id for inquiry, _, _ in rows])
    return [
        summary(inquiry, contact, key, now, merged_into=merged.get(inquiry.merged_into_id or 0))
        for inquiry, contact, key in rows
    ]


def summary_of(session: Session, inquiry: Inquiry, now: datetime) -> InquirySummary:
    contact = session.get(Contact, inquiry.contact_id)
    assert contact is not None
    employee = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
    into = session.get(Inquiry, inquiry.merged_into_id) if inquiry.merged_into_id else None
    return summary(
        inquiry, contact, employee.key if employee else None, now, merged_into=into.reference if into else None
    )


def detail(session: Session, inquiry: Inquiry, now: datetime) -> InquiryDetail:
    """One inquiry with its contact, messages (with attachment metadata) and events."""
    assert inquiry.id is not None
    messages = inquiry_repo.messages_of(session, inquiry_id=inquiry.id)
    attachments: dict[int, list[AttachmentOut]] = {}
    for a in inquiry_repo.attachments_of(session, message_ids=[m.id for m in messages if m.id is not None]):
        attachments.setdefault(a.message_id, []).append(
            AttachmentOut(
                id=a.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                stored=a.stored,
                omitted_reason=a.omitted_reason,
            )
        )
    events = inquiry_repo.events_of(session, inquiry_id=inquiry.id)
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
        events=[
            EventOut(id=e.id, at=e.at, type=e.type, actor=e.actor, actor_kind=e.actor_kind, data=e.data)
            for e in events
            if e.id is not None
        ],
    )  # fmt: skip


def disposition(filename: str | None, attachment_id: int) -> str:
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


def attachment_response(data: bytes, *, content_type: str, filename: str | None, attachment_id: int) -> Response:
    """An attachment as staff get it, from the API and the dashboard alike: always a download, and
    types that could run in a browser as bytes."""
    return Response(
        content=data,
        media_type=served_type(content_type),
        headers={
            "Content-Disposition": disposition(filename, attachment_id),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
