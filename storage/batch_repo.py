"""Queries of the pipeline's batches: many receipts claimed, one counter read, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Table, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from storage.models import Contact, Counter, Message, Receipt, ReceiptStatus

WAITING = (ReceiptStatus.PENDING.value, ReceiptStatus.PARKED.value)


def waiting_receipts(session: Session, *, ids: Sequence[int]) -> list[Receipt]:
    """Those of ``ids`` still waiting to be processed, in id order, locked for this transaction.

    On PostgreSQL a receipt another process holds is skipped, not waited for (see
    :func:`storage.repo.claim_receipt`); on SQLite the write transaction holds the whole
    database. The raw message is not loaded: it was parsed before the transaction began.
    """
    stmt = (
        select(Receipt)
        .where(col(Receipt.id).in_(list(ids)), col(Receipt.status).in_(WAITING))
        .options(defer(Receipt.raw))  # type: ignore[arg-type]
        .order_by(col(Receipt.id))
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.exec(stmt).all())


def receipt_sizes(session: Session, *, ids: Sequence[int]) -> list[tuple[int, int]]:
    """(id, size of the raw message) of the waiting ones among ``ids``, in id order."""
    rows = session.exec(
        select(Receipt.id, func.length(Receipt.raw))
        .where(col(Receipt.id).in_(list(ids)), col(Receipt.status).in_(WAITING))
        .order_by(col(Receipt.id))
    ).all()
    return [(int(i), int(n or 0)) for i, n in rows if i is not None]


def raw_receipts(session: Session, *, ids: Sequence[int]) -> list[Receipt]:
    return list(session.exec(select(Receipt).where(col(Receipt.id).in_(list(ids))).order_by(col(Receipt.id))).all())


def read_counter(session: Session, *, name: str) -> int:
    """A named counter's value, its row locked until the transaction ends (created at 0)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    stmt = select(Counter.value).where(Counter.name == name)
    value = session.exec(stmt.with_for_update() if postgres else stmt).first()
    if value is not None:
        return int(value)
    table: Table = Counter.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    session.execute(insert.values(name=name, value=0).on_conflict_do_nothing(index_elements=["name"]))
    return int(session.exec(stmt.with_for_update() if postgres else stmt).one())


def write_counter(session: Session, *, name: str, value: int) -> None:
    session.execute(update(Counter).where(col(Counter.name) == name).values(value=value))


def message_ids(session: Session, *, channel: str, external_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """(channel, natural id) -> message id, for those of ``external_ids`` stored on ``channel``."""
    rows = session.exec(
        select(Message.external_id, Message.id).where(
            Message.channel == channel, col(Message.external_id).in_(list(external_ids))
        )
    ).all()
    return {(channel, str(external_id)): int(i) for external_id, i in rows if i is not None}


def contacts_by_email(session: Session, *, emails: Iterable[str]) -> dict[str, Contact]:
    """The contact of each address (lower case) that has one; the oldest where several have."""
    rows = session.exec(select(Contact).where(col(Contact.email).in_(list(emails))).order_by(col(Contact.id).desc()))
    return {contact.email: contact for contact in rows if contact.email}
