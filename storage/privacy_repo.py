"""The privacy aggregate's queries: a client's contacts and inquiries, the rows the scrub empties,
the export's rows, and the retention job's selections (policy clause 5.5).

Used by ingest/privacy (GDPR export and erasure, the retention job). Every function works in the
caller's session and transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Text, exists, func, or_, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col, select

from storage.models import Attachment, Contact, Event, Inquiry, InquiryStatus, Message, Outbox, Receipt, ReceiptStatus
from storage.twilio_models import MediaFetch

# The event that marks an inquiry as anonymised; the retention job skips inquiries that have it.
ANONYMISED_EVENT = "anonymised"
# Inquiries the retention job may anonymise once they are old enough.
DONE_STATUSES = (InquiryStatus.CLOSED.value, InquiryStatus.ANSWERED.value)


# --- contacts and their inquiries ----------------------------------------------------------


def contacts_by_email(session: Session, *, email: str) -> list[Contact]:
    """Contacts with this e-mail address, whatever its case, by id."""
    return _contacts_where(session, func.lower(col(Contact.email)) == email.lower())


def contacts_by_id(session: Session, *, contact_id: int) -> list[Contact]:
    """The contact with this id, as a list (empty when there is none)."""
    return _contacts_where(session, col(Contact.id) == contact_id)


def contacts_by_phone(session: Session, *, phone: str) -> list[Contact]:
    """Contacts with this E.164 number (``+371...``) as phone or WhatsApp id, by id."""
    return _contacts_where(session, or_(col(Contact.phone) == phone, col(Contact.whatsapp_id) == phone[1:]))


def _contacts_where(session: Session, cond: ColumnElement[bool]) -> list[Contact]:
    return list(session.exec(select(Contact).where(cond).order_by(col(Contact.id))).all())


def inquiries_of_contact(session: Session, *, contact_id: int) -> list[Inquiry]:
    """Every inquiry of the client, by id."""
    stmt = select(Inquiry).where(Inquiry.contact_id == contact_id).order_by(col(Inquiry.id))
    return list(session.exec(stmt).all())


def unlinked_receipts_after(session: Session, *, after_id: int, limit: int) -> list[Receipt]:
    """Up to ``limit`` receipts that never became a message, with ids above ``after_id``, by id."""
    stmt = (
        select(Receipt)
        .where(col(Receipt.message_id).is_(None), col(Receipt.id) > after_id)
        .order_by(col(Receipt.id))
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def outbox_mentioning(
    session: Session, *, references: Collection[str], identifiers: Collection[str], skip_inquiry_ids: Collection[int]
) -> list[Outbox]:
    """Outgoing messages outside these inquiries whose payload names one of the references (the
    morning digest lists inquiries by reference and subject, with no inquiry_id) or whose recipient
    or payload holds one of the identifiers (addresses, numbers; lower case); by id. A text search:
    erasure is rare."""
    payload = func.lower(sql_cast(col(Outbox.payload), Text))
    conds = [payload.contains(r.lower()) for r in references]
    conds += [func.lower(col(Outbox.recipient)).contains(v) for v in identifiers]
    conds += [payload.contains(v) for v in identifiers]
    if not conds:
        return []
    stmt = select(Outbox).where(or_(*conds)).order_by(col(Outbox.id))
    if skip_inquiry_ids:
        stmt = stmt.where(or_(col(Outbox.inquiry_id).is_(None), col(Outbox.inquiry_id).not_in(skip_inquiry_ids)))
    return list(session.exec(stmt).all())


def outbox_ids_of_contact(session: Session, *, contact_id: int) -> list[int]:
    """The ids of the outgoing messages of the client's inquiries."""
    rows = session.exec(
        select(Outbox.id)
        .join(Inquiry, col(Inquiry.id) == col(Outbox.inquiry_id))
        .where(Inquiry.contact_id == contact_id)
    ).all()
    return [int(i) for i in rows if i is not None]


# --- the export (in order) -----------------------------------------------------------------


def attachments_of_message(session: Session, *, message_id: int) -> list[Attachment]:
    """The message's attachments, with their bytes."""
    return list(session.exec(select(Attachment).where(Attachment.message_id == message_id)).all())


def outbox_of_inquiry(session: Session, *, inquiry_id: int) -> list[Outbox]:
    """The inquiry's outgoing messages, by id."""
    stmt = select(Outbox).where(Outbox.inquiry_id == inquiry_id).order_by(col(Outbox.id))
    return list(session.exec(stmt).all())


def receipts_of_messages(
    session: Session, *, receipt_ids: Collection[int], message_ids: Sequence[int]
) -> list[Receipt]:
    """Receipts with these ids or linked to these messages, by id."""
    stmt = (
        select(Receipt)
        .where(col(Receipt.id).in_(receipt_ids) | col(Receipt.message_id).in_(message_ids or [-1]))
        .order_by(col(Receipt.id))
    )
    return list(session.exec(stmt).all())


# --- one inquiry's rows to scrub (in no particular order) ----------------------------------


def messages_to_scrub(session: Session, *, inquiry_id: int) -> list[Message]:
    return list(session.exec(select(Message).where(Message.inquiry_id == inquiry_id)).all())


def attachments_to_scrub(session: Session, *, message_ids: Sequence[int]) -> list[Attachment]:
    return list(session.exec(select(Attachment).where(col(Attachment.message_id).in_(message_ids))).all())


def media_fetches_to_scrub(session: Session, *, attachment_ids: Sequence[int]) -> list[MediaFetch]:
    stmt = select(MediaFetch).where(col(MediaFetch.attachment_id).in_(attachment_ids))
    return list(session.exec(stmt).all())


def receipts_to_scrub(session: Session, *, receipt_ids: Collection[int], message_ids: Sequence[int]) -> list[Receipt]:
    """Receipts with these ids or linked to these messages."""
    stmt = select(Receipt).where(col(Receipt.id).in_(receipt_ids) | col(Receipt.message_id).in_(message_ids))
    return list(session.exec(stmt).all())


def outbox_to_scrub(session: Session, *, inquiry_id: int) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.inquiry_id == inquiry_id)).all())


def events_to_scrub(session: Session, *, inquiry_id: int) -> list[Event]:
    return list(session.exec(select(Event).where(Event.inquiry_id == inquiry_id)).all())


# --- retention -----------------------------------------------------------------------------


def _anonymised_since_last_change() -> Any:
    """An ``anonymised`` event no older than the inquiry's last change. A client who writes again
    into an anonymised thread reopens it (``updated_at`` moves on): it is anonymised again later."""
    return exists().where(
        col(Event.inquiry_id) == col(Inquiry.id),
        col(Event.type) == ANONYMISED_EVENT,
        col(Event.at) >= col(Inquiry.updated_at),
    )


def due_inquiry_ids(session: Session, *, cutoff: datetime, limit: int, after_id: int = 0) -> list[int]:
    """Closed or answered inquiries, not yet anonymised, with no message or event since ``cutoff``;
    ids above ``after_id``, at most ``limit``, in order."""
    recent_message = exists().where(col(Message.inquiry_id) == col(Inquiry.id), col(Message.received_at) >= cutoff)
    recent_event = exists().where(col(Event.inquiry_id) == col(Inquiry.id), col(Event.at) >= cutoff)
    stmt = (
        select(Inquiry.id)
        .where(
            col(Inquiry.status).in_(DONE_STATUSES),
            col(Inquiry.updated_at) < cutoff,
            col(Inquiry.received_at) < cutoff,
            col(Inquiry.id) > after_id,
            ~recent_message,
            ~recent_event,
            ~_anonymised_since_last_change(),
        )
        .order_by(col(Inquiry.id))
        .limit(limit)
    )
    return [int(i) for i in session.exec(stmt).all() if i is not None]


def has_personal_inquiry(session: Session, *, contact_id: int) -> bool:
    """Whether an inquiry of the client is not anonymised (or changed since it was)."""
    found = session.exec(
        select(Inquiry.id).where(Inquiry.contact_id == contact_id, ~_anonymised_since_last_change()).limit(1)
    ).first()
    return found is not None


def _old_raw_receipts(cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    """Processed receipts older than the cutoff that still have their bytes (parked and pending are kept)."""
    return (
        col(Receipt.status) == ReceiptStatus.PROCESSED.value,
        or_(
            col(Receipt.processed_at) < cutoff,
            col(Receipt.processed_at).is_(None) & (col(Receipt.received_at) < cutoff),
        ),
        func.length(col(Receipt.raw)) > 0,
    )


def count_old_raw_receipts(session: Session, *, cutoff: datetime) -> int:
    return int(session.exec(select(func.count()).select_from(Receipt).where(*_old_raw_receipts(cutoff))).one())


def empty_old_raw_receipts(session: Session, *, cutoff: datetime) -> int:
    """Empty the raw bytes of the old processed receipts; returns how many."""
    result = session.execute(update(Receipt).where(*_old_raw_receipts(cutoff)).values(raw=b""))
    # The stubs type Session.execute as returning Result; an UPDATE gives a CursorResult, which has rowcount.
    return int(cast(CursorResult[Any], result).rowcount or 0)
