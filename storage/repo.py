"""Queries, as keyword-only functions that take the session they work in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, case, func, inspect, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Result
from sqlmodel import Session, SQLModel, col, select

from storage import event_buffer
from storage.actors import SYSTEM_ACTOR, Actor
from storage.models import (
    OPEN_STATUSES,
    Absence,
    Contact,
    Counter,
    Employee,
    Event,
    Inquiry,
    JobMarker,
    Message,
    Outbox,
    OutboxStatus,
    Receipt,
    ReceiptStatus,
)
from storage.work_queue import claim_leased


def _insert_for(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def _table(model: type[SQLModel]) -> Table:
    """The Core table a table model is mapped to (SQLModel sets ``__table__`` but does not declare it)."""
    table = inspect(model).local_table
    if not isinstance(table, Table):  # pragma: no cover - every model here maps one plain table
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def _rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE matched."""
    # SQLModel's stubs type Session.execute as returning Result; an UPDATE gives a CursorResult, which has rowcount.
    return int(result.rowcount)  # type: ignore[attr-defined]  # see above: the stub's return type is too wide


# --- receipts -------------------------------------------------------------------------------


def insert_receipt(
    session: Session,
    *,
    channel: str,
    source: str,
    natural_id: str,
    raw: bytes,
    meta: dict[str, Any],
    now: datetime,
) -> tuple[int, bool]:
    """Store a receipt unless one with the same natural id exists; (id, created)."""
    table = _table(Receipt)
    stmt = (
        _insert_for(session, table)
        .values(
            channel=channel,
            source=source,
            natural_id=natural_id,
            raw=raw,
            meta=meta,
            status=ReceiptStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "natural_id"])
        .returning(table.c.id)
    )
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is not None:
        return int(new_id), True
    existing = session.exec(
        select(Receipt.id).where(Receipt.channel == channel, Receipt.natural_id == natural_id)
    ).one()
    if existing is None:  # pragma: no cover - a stored row's id; the model types it Optional (unset before insert)
        raise RuntimeError(f"receipt {channel}/{natural_id} has no id")
    return int(existing), False


def due_receipt_ids(session: Session, *, now: datetime, limit: int) -> list[int]:
    stmt = (
        select(Receipt.id)
        .where(
            col(Receipt.status).in_([ReceiptStatus.PENDING.value, ReceiptStatus.PARKED.value]),
            col(Receipt.next_attempt_at).is_not(None),
            col(Receipt.next_attempt_at) <= now,
        )
        .order_by(col(Receipt.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Leave out receipts another process is processing right now (their claim holds the row
        # lock): listing them would only make this worker spin on rows it must skip. The lock
        # taken here is released when the caller's read-only session ends.
        stmt = stmt.with_for_update(skip_locked=True)
    return [int(i) for i in session.exec(stmt).all() if i is not None]


def claim_receipt(session: Session, *, receipt_id: int, now: datetime) -> bool:
    """Mark a receipt processed inside the caller's transaction; False if another got it first.

    Done first in the processing transaction: a rollback undoes it. On PostgreSQL a row that
    another process is processing (its claim holds the row lock until it commits or rolls back)
    is skipped at once instead of waited for: waiting would only end in "already processed", or
    in a second attempt right after the first one failed and parked it. Several processes thus
    work through one batch side by side instead of queueing behind each other.
    """
    claimable = (
        col(Receipt.id) == receipt_id,
        col(Receipt.status).in_([ReceiptStatus.PENDING.value, ReceiptStatus.PARKED.value]),
    )
    stmt = update(Receipt)
    if session.get_bind().dialect.name == "postgresql":
        free = select(Receipt.id).where(*claimable).with_for_update(skip_locked=True).scalar_subquery()
        stmt = stmt.where(col(Receipt.id) == free)
    else:
        stmt = stmt.where(*claimable)
    result = session.execute(
        stmt.values(status=ReceiptStatus.PROCESSED.value, processed_at=now, next_attempt_at=None, last_error=None)
    )
    return _rowcount(result) == 1


def parked_receipts(session: Session, *, limit: int = 1000) -> list[Receipt]:
    stmt = select(Receipt).where(Receipt.status == ReceiptStatus.PARKED.value).order_by(col(Receipt.id)).limit(limit)
    return list(session.exec(stmt).all())


def failed_outbox(session: Session, *, limit: int = 1000) -> list[Outbox]:
    stmt = select(Outbox).where(Outbox.status == OutboxStatus.FAILED.value).order_by(col(Outbox.id)).limit(limit)
    return list(session.exec(stmt).all())


def retry_receipts(session: Session, *, now: datetime, ids: Sequence[int] | None = None) -> int:
    """Make parked receipts due again (all, or those named); returns how many."""
    stmt = update(Receipt).where(col(Receipt.status) == ReceiptStatus.PARKED.value)
    if ids is not None:
        stmt = stmt.where(col(Receipt.id).in_(list(ids)))
    return _rowcount(session.execute(stmt.values(next_attempt_at=now)))


def retry_outbox(session: Session, *, now: datetime, ids: Sequence[int] | None = None) -> int:
    """Queue failed outgoing messages again (all, or those named); returns how many."""
    stmt = update(Outbox).where(col(Outbox.status) == OutboxStatus.FAILED.value)
    if ids is not None:
        stmt = stmt.where(col(Outbox.id).in_(list(ids)))
    values = {"status": OutboxStatus.PENDING.value, "next_attempt_at": now, "attempts": 0}
    return _rowcount(session.execute(stmt.values(**values)))


def count_by_status(session: Session, table: Any) -> dict[str, int]:
    rows = session.exec(select(table.status, func.count()).group_by(table.status)).all()
    return {str(status): int(n) for status, n in rows}


# --- contacts, employees, inquiries ---------------------------------------------------------


def find_contact_by_email(session: Session, *, email: str) -> Contact | None:
    return session.exec(
        select(Contact).where(Contact.email == email.lower()).order_by(col(Contact.id)).limit(1)
    ).first()


def employees_by_key(session: Session) -> dict[str, Employee]:
    return {e.key: e for e in session.exec(select(Employee)).all()}


def absent_on(session: Session, *, day: date) -> set[str]:
    rows = session.exec(
        select(Absence.employee_key).where(col(Absence.starts_on) <= day, col(Absence.ends_on) >= day)
    ).all()
    return {str(k) for k in rows}


def load_by_employee(session: Session, *, due_by: datetime) -> dict[str, tuple[int, int]]:
    """Per employee key: (open inquiries, of which due by ``due_by`` or overdue)."""
    due_soon = case((col(Inquiry.due_at) <= due_by, 1), else_=0)
    rows = session.exec(
        select(Employee.key, func.count(col(Inquiry.id)), func.coalesce(func.sum(due_soon), 0))
        .join(Inquiry, col(Inquiry.employee_id) == col(Employee.id))
        .where(col(Inquiry.status).in_(OPEN_STATUSES))
        .group_by(Employee.key)
    ).all()
    return {str(k): (int(n), int(d)) for k, n, d in rows}


def client_open_inquiry(session: Session, *, contact_id: int) -> tuple[str, str | None] | None:
    """(employee key, topic) of the client's most recent open inquiry."""
    row = session.exec(
        select(Employee.key, Inquiry.topic)
        .join(Inquiry, col(Inquiry.employee_id) == col(Employee.id))
        .where(Inquiry.contact_id == contact_id, col(Inquiry.status).in_(OPEN_STATUSES))
        .order_by(col(Inquiry.received_at).desc())
        .limit(1)
    ).first()
    return (str(row[0]), row[1]) if row else None


def open_counts_by_employee(session: Session) -> dict[str, int]:
    rows = session.exec(
        select(Employee.key, func.count(col(Inquiry.id)))
        .join(Inquiry, col(Inquiry.employee_id) == col(Employee.id))
        .where(col(Inquiry.status).in_(OPEN_STATUSES))
        .group_by(Employee.key)
    ).all()
    return {str(k): int(n) for k, n in rows}


def next_counter(session: Session, *, name: str) -> int:
    """Increment and return a named counter; the row lock serialises concurrent callers."""
    session.execute(
        _insert_for(session, _table(Counter)).values(name=name, value=0).on_conflict_do_nothing(index_elements=["name"])
    )
    session.execute(update(Counter).where(col(Counter.name) == name).values(value=Counter.value + 1))
    return int(session.exec(select(Counter.value).where(Counter.name == name)).one())


def message_by_external_id(session: Session, *, channel: str, external_id: str) -> Message | None:
    return session.exec(select(Message).where(Message.channel == channel, Message.external_id == external_id)).first()


def inquiry_for_references(session: Session, *, external_ids: Sequence[str]) -> Inquiry | None:
    """The inquiry of the first of these ids (a client's message or one we sent) that we know."""
    if not external_ids:
        return None
    ids = list(external_ids)
    found: dict[str, int] = {}
    for ext, inquiry_id in session.exec(
        select(Message.external_id, Message.inquiry_id).where(col(Message.external_id).in_(ids))
    ):
        found.setdefault(ext, inquiry_id)
    for sent_id, sent_inquiry_id in session.exec(
        select(Outbox.external_id, Outbox.inquiry_id).where(
            col(Outbox.external_id).in_(ids), col(Outbox.inquiry_id).is_not(None)
        )
    ):
        if sent_id is not None and sent_inquiry_id is not None:
            found.setdefault(sent_id, sent_inquiry_id)
    for ext in ids:
        if ext in found:
            return session.get(Inquiry, found[ext])
    return None


def inquiry_by_token(session: Session, *, token: str) -> Inquiry | None:
    return session.exec(select(Inquiry).where(Inquiry.token == token)).first()


def employee_by_email(session: Session, *, email: str) -> Employee | None:
    return session.exec(
        select(Employee).where(func.lower(Employee.email) == email.lower(), col(Employee.active).is_(True))
    ).first()


def outbox_by_external_ids(session: Session, *, external_ids: Sequence[str]) -> list[Outbox]:
    if not external_ids:
        return []
    return list(session.exec(select(Outbox).where(col(Outbox.external_id).in_(list(external_ids)))).all())


def inquiry_by_reference(session: Session, *, reference: str) -> Inquiry | None:
    return session.exec(select(Inquiry).where(Inquiry.reference == reference)).first()


def add_event(
    session: Session,
    *,
    inquiry_id: int,
    type: str,
    at: datetime,
    data: dict[str, Any] | None = None,
    actor: Actor = SYSTEM_ACTOR,
) -> None:
    row: dict[str, Any] = {
        "inquiry_id": inquiry_id, "type": type, "at": at, "data": data or {},
        "actor": actor.name, "actor_kind": actor.kind.value,
    }  # fmt: skip
    if not event_buffer.hold(session, row):
        session.add(Event(**row))


def reference_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"\[({re.escape(prefix)}-\d{{4}}-\d{{6,}})\]")


def claim_marker(session: Session, *, key: str, now: datetime) -> bool:
    """Record that the work named ``key`` is done; False if it already was (here or elsewhere)."""
    table = _table(JobMarker)
    stmt = (
        _insert_for(session, table)
        .values(key=key, done_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.key)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


# --- outbox ---------------------------------------------------------------------------------


def claim_outbox(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[Outbox]:
    """Take due outbox rows for sending until now + lease; expired leases are taken again."""
    due = or_(
        (col(Outbox.status) == OutboxStatus.PENDING.value) & (col(Outbox.next_attempt_at) <= now),
        (col(Outbox.status) == OutboxStatus.SENDING.value) & (col(Outbox.lease_until) < now),
    )
    return claim_leased(
        session, Outbox, due=due, now=now, lease=lease, limit=limit, set_values={"status": OutboxStatus.SENDING.value}
    )


# --- IMAP mailbox position ------------------------------------------------------------------


def mailbox_position(session: Session, *, mailbox: str) -> tuple[int | None, int]:
    """(uidvalidity, last_uid) stored for a mailbox; (None, 0) when it was never read."""
    from storage.models import MailboxState

    row = session.get(MailboxState, mailbox)
    if row is None:
        return None, 0
    return row.uidvalidity, int(row.last_uid)


def save_mailbox_position(session: Session, *, mailbox: str, uidvalidity: int, last_uid: int, now: datetime) -> None:
    """Record how far a mailbox has been read, inside the caller's transaction."""
    from storage.models import MailboxState

    table = _table(MailboxState)
    stmt = _insert_for(session, table).values(
        mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["mailbox"],
        set_={
            "uidvalidity": stmt.excluded.uidvalidity,
            "last_uid": stmt.excluded.last_uid,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.execute(stmt)


# --- WhatsApp and SMS (Twilio) --------------------------------------------------------------


def find_contact_by_phone(session: Session, *, phone: str, whatsapp_id: str | None = None) -> Contact | None:
    """The contact with this E.164 number (or WhatsApp id), the oldest first."""
    cond = col(Contact.phone) == phone
    if whatsapp_id:
        cond = or_(cond, col(Contact.whatsapp_id) == whatsapp_id)
    return session.exec(select(Contact).where(cond).order_by(col(Contact.id)).limit(1)).first()


def record_message_status(
    session: Session, *, message_sid: str, status: str, error_code: str | None, now: datetime
) -> tuple[bool, Outbox | None]:
    """Store one delivery status callback and apply it to the outbox row sent as ``sid:<message_sid>``.

    Returns (new, outbox row or None). A repeated callback (same sid and status) is not new and
    changes nothing; a row not yet known (the callback came before the sender recorded the sid)
    is updated when the sid is recorded (:func:`link_message_sid`).
    """
    from storage.twilio_models import MessageStatus

    table = _table(MessageStatus)
    new_id = session.execute(
        _insert_for(session, table)
        .values(message_sid=message_sid, status=status, error_code=error_code or None, received_at=now)
        .on_conflict_do_nothing(index_elements=["message_sid", "status"])
        .returning(table.c.id)
    ).scalar_one_or_none()
    if new_id is None:
        return False, None
    stmt = select(Outbox).where(Outbox.external_id == f"sid:{message_sid}")
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # two callbacks for one row: the second waits
    row = session.exec(stmt).first()
    if row is None:
        return True, None
    session.execute(update(table).where(table.c.id == new_id).values(outbox_id=row.id))
    _apply_delivery_status(session, row, status=status, error_code=error_code, now=now)
    return True, row


def mark_outbox_sent(
    session: Session, *, leased: Sequence[tuple[int, datetime | None]], now: datetime
) -> list[tuple[int, int | None, str, int]]:
    """Rows sent under the lease they were claimed with, marked sent in one UPDATE per lease;
    returns (id, inquiry_id, kind, attempts) of each marked. A row whose lease is not that one
    any more (another process took it over, or it was recorded already) or that was withdrawn is
    left as it is: its record is another's."""
    marked: list[tuple[int, int | None, str, int]] = []
    by_lease: dict[datetime | None, list[int]] = {}
    for row_id, lease_until in leased:
        by_lease.setdefault(lease_until, []).append(row_id)
    for lease_until, ids in by_lease.items():
        if lease_until is None:
            continue  # never claimed: nothing this process may record
        stmt = (
            update(Outbox)
            .where(col(Outbox.id).in_(ids), col(Outbox.status) == OutboxStatus.SENDING.value,
                   col(Outbox.lease_until) == lease_until)
            .values(status=OutboxStatus.SENT.value, sent_at=now, last_error=None, lease_until=None,
                    attempts=col(Outbox.attempts) + 1)
            .returning(col(Outbox.id), col(Outbox.inquiry_id), col(Outbox.kind), col(Outbox.attempts))
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        marked += [(int(r[0]), r[1], str(r[2]), int(r[3])) for r in session.execute(stmt).all()]
    return sorted(marked)


def outbox_rows(session: Session, *, ids: Sequence[int]) -> dict[int, Outbox]:
    rows = session.exec(select(Outbox).where(col(Outbox.id).in_(list(ids)))).all() if ids else []
    return {row.id: row for row in rows if row.id is not None}


def link_message_sid(session: Session, *, outbox_id: int, message_sid: str, now: datetime) -> None:
    """Record the provider's id of a sent row (``sid:<sid>``) and apply callbacks that came first."""
    from storage.twilio_models import MessageStatus

    row = session.get(Outbox, outbox_id)
    if row is None:
        return
    row.external_id = f"sid:{message_sid}"
    session.add(row)
    early = session.exec(
        select(MessageStatus).where(MessageStatus.message_sid == message_sid).order_by(col(MessageStatus.id))
    ).all()
    for item in early:
        item.outbox_id = outbox_id
        session.add(item)
        _apply_delivery_status(session, row, status=item.status, error_code=item.error_code, now=now)


def _apply_delivery_status(
    session: Session, row: Outbox, *, status: str, error_code: str | None, now: datetime
) -> None:
    from storage.twilio_models import FAILED_STATUSES, STATUS_RANK

    current = (row.payload or {}).get("delivery") or {}
    if STATUS_RANK.get(status, 0) < STATUS_RANK.get(current.get("status", ""), -1):
        return  # an older status arriving late
    row.payload = {
        **(row.payload or {}),
        "delivery": {"status": status, "error_code": error_code or None, "updated_at": now.isoformat()},
    }
    if status in FAILED_STATUSES:
        row.status = OutboxStatus.FAILED.value
        row.last_error = f"Twilio: {status}" + (f", ErrorCode {error_code}" if error_code else "")
        row.next_attempt_at = None
        if row.inquiry_id is not None:
            add_event(
                session,
                inquiry_id=row.inquiry_id,
                type="delivery_failed",
                at=now,
                data={"outbox_id": row.id, "kind": row.kind, "status": status, "error_code": error_code},
            )
    session.add(row)
