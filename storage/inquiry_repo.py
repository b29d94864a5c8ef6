"""Reading one inquiry's parts: its messages, attachment metadata, events and the list page.

The inquiry aggregate's queries (repo.py keeps the older ones used by the pipeline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage import event_buffer
from storage.models import Attachment, Contact, Employee, Event, Inquiry, Message, Outbox
from storage.staff_models import Role


@dataclass(frozen=True)
class AttachmentMeta:
    """An attachment without its bytes; ``stored`` says whether the bytes are there."""

    id: int
    message_id: int
    filename: str | None
    content_type: str
    size: int
    omitted_reason: str | None
    stored: bool


def messages_of(session: Session, *, inquiry_id: int) -> list[Message]:
    stmt = select(Message).where(Message.inquiry_id == inquiry_id).order_by(col(Message.received_at), col(Message.id))
    return list(session.exec(stmt).all())


def events_of(session: Session, *, inquiry_id: int) -> list[Event]:
    event_buffer.write_waiting(session)
    stmt = select(Event).where(Event.inquiry_id == inquiry_id).order_by(col(Event.at), col(Event.id))
    return list(session.exec(stmt).all())


def attachments_of(session: Session, *, message_ids: Sequence[int]) -> list[AttachmentMeta]:
    """Attachment metadata of these messages, without reading their bytes."""
    if not message_ids:
        return []
    # SQLAlchemy's own select: SQLModel's is typed for at most four columns.
    rows = session.execute(
        sa_select(
            col(Attachment.id), col(Attachment.message_id), col(Attachment.filename), col(Attachment.content_type),
            col(Attachment.size), col(Attachment.omitted_reason), col(Attachment.data).is_not(None),
        )
        .where(col(Attachment.message_id).in_(list(message_ids)))
        .order_by(col(Attachment.id))
    ).all()  # fmt: skip
    return [
        AttachmentMeta(
            id=int(a_id), message_id=int(m_id), filename=filename, content_type=ctype, size=int(size),
            omitted_reason=omitted, stored=bool(stored),
        )
        for a_id, m_id, filename, ctype, size, omitted, stored in rows
    ]  # fmt: skip


def attachment_on(session: Session, *, inquiry_id: int, attachment_id: int) -> Attachment | None:
    """The attachment if it belongs to a message of this inquiry."""
    stmt = (
        select(Attachment)
        .join(Message, col(Message.id) == col(Attachment.message_id))
        .where(col(Attachment.id) == attachment_id, col(Message.inquiry_id) == inquiry_id)
    )
    return session.exec(stmt).first()


def employee_by_key(session: Session, *, key: str) -> Employee | None:
    return session.exec(select(Employee).where(Employee.key == key)).first()


def assignable_employees(session: Session) -> list[Employee]:
    """The active employees who may be given an inquiry (all but administrators), by surname and name."""
    stmt = (
        select(Employee)
        .where(col(Employee.active).is_(True), col(Employee.role) != Role.ADMIN.value)
        .order_by(col(Employee.surname), col(Employee.name))
    )
    return list(session.exec(stmt).all())


def inquiry_page(
    session: Session, *, where: Sequence[ColumnElement[bool]], limit: int, offset: int, by_due: bool = False
) -> tuple[int, list[tuple[Inquiry, Contact, str | None]]]:
    """The total matching ``where`` and one page of them, with contact and employee key: newest
    first, or (``by_due``) the earliest due first, those without a due date last."""
    total = session.exec(select(func.count(col(Inquiry.id))).where(*where)).one()
    order = (
        (col(Inquiry.due_at).is_(None), col(Inquiry.due_at), col(Inquiry.id))
        if by_due
        else (col(Inquiry.received_at).desc(), col(Inquiry.id).desc())
    )
    rows: Any = session.exec(
        select(Inquiry, Contact, Employee.key)
        .join(Contact, col(Contact.id) == col(Inquiry.contact_id))
        .outerjoin(Employee, col(Employee.id) == col(Inquiry.employee_id))
        .where(*where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total), [(inquiry, contact, key) for inquiry, contact, key in rows]


def employees_by_id(session: Session) -> dict[int, Employee]:
    return {e.id: e for e in session.exec(select(Employee)).all() if e.id is not None}


# Employees named in a complaint's later message (ingest/pipeline/complaint_names.py).
NAMED_EVENT = "named_in_complaint"
# The events whose data holds routing facts such as the employees a complaint names.
ROUTING_FACT_EVENTS = ("routed", NAMED_EVENT)


def routed_events(session: Session, *, inquiry_id: int) -> list[Event]:
    """The inquiry's ``routed`` events (who the router chose, by which rule, with which facts) and
    the names a complaint's later messages added to those facts (``named_in_complaint``)."""
    event_buffer.write_waiting(session)
    stmt = select(Event).where(Event.inquiry_id == inquiry_id, col(Event.type).in_(ROUTING_FACT_EVENTS))
    return list(session.exec(stmt).all())


def last_incoming(session: Session, *, inquiry_id: int) -> Message | None:
    """The client's latest message on the inquiry (the latest stored of equal times)."""
    stmt = (
        select(Message)
        .where(Message.inquiry_id == inquiry_id, Message.direction == "in")
        .order_by(col(Message.received_at).desc(), col(Message.id).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def last_incoming_at(session: Session, *, inquiry_id: int, channel: str) -> datetime | None:
    """When the client last wrote on ``channel`` to this inquiry."""
    stmt = select(func.max(Message.received_at)).where(
        Message.inquiry_id == inquiry_id, Message.direction == "in", Message.channel == channel
    )
    return session.exec(stmt).one()


def recent_acknowledgements(session: Session, *, recipient: str, since: datetime) -> int:
    """Acknowledgements queued to ``recipient`` after ``since`` (the once-per-window rule)."""
    stmt = select(func.count(col(Outbox.id))).where(
        Outbox.kind == "client_ack", Outbox.recipient == recipient, col(Outbox.created_at) > since
    )
    # Without flushing first: what waits to be flushed is the caller's own work in progress (a
    # staff notification queued with the acknowledgement, to be written in one INSERT with it).
    with session.no_autoflush:
        return int(session.exec(stmt).one())


def inquiries_of_contact(
    session: Session, *, contact_id: int, where: Sequence[ColumnElement[bool]], limit: int = 50
) -> list[Inquiry]:
    """The contact's inquiries matching ``where`` (who may see them), newest first."""
    stmt = (
        select(Inquiry)
        .where(col(Inquiry.contact_id) == contact_id, *where)
        .order_by(col(Inquiry.received_at).desc(), col(Inquiry.id).desc())
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def client_outbox_of(session: Session, *, inquiry_ids: Sequence[int]) -> list[Outbox]:
    """What was queued for the client on these inquiries (acknowledgements, notices, answers), oldest first."""
    query = (
        select(Outbox)
        .where(col(Outbox.inquiry_id).in_(inquiry_ids), col(Outbox.kind).startswith("client_", autoescape=True))
        .order_by(col(Outbox.created_at), col(Outbox.id))
    )
    return list(session.exec(query).all())


def names_in_complaint(session: Session, inquiry: Inquiry) -> list[str]:
    """The employees (name and surname) that the routing found named in a complaint's text."""
    if inquiry.kind != "complaint" or inquiry.id is None:
        return []
    keys: list[str] = []
    for event in routed_events(session, inquiry_id=inquiry.id):
        facts = event.data.get("facts") if isinstance(event.data, dict) else None
        keys += [k for k in (facts or {}).get("employees_named") or [] if isinstance(k, str) and k not in keys]
    employees = {e.key: f"{e.name} {e.surname}" for e in employees_by_id(session).values()}
    return [employees.get(k, k) for k in keys]
