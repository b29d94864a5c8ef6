"""Claiming due rows of a work queue with a lease, the same way for every leased queue.

A row is taken until ``now + lease``; a worker that dies leaves the lease to run out, and the
row is due again. On PostgreSQL rows another process is claiming right now are skipped, not
waited for, so several processes share one queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, SQLModel, col, select

RowT = TypeVar("RowT", bound=SQLModel)


def claim_leased(
    session: Session,
    table: type[RowT],
    *,
    due: ColumnElement[bool],
    now: datetime,
    lease: timedelta,
    limit: int,
    set_values: dict[str, Any] | None = None,
) -> list[RowT]:
    """Take up to ``limit`` rows matching ``due`` (oldest first) until ``now + lease``.

    ``set_values`` are written with the lease (e.g. a "sending" status). Only the rows whose
    lease this call wrote are returned: a row another process took in between is not.
    """
    ident = col(table.id)  # type: ignore[attr-defined]  # every queue table has an integer id
    stmt = select(ident).where(due).order_by(ident).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = [int(i) for i in session.exec(stmt).all() if i is not None]
    if not ids:
        return []
    until = now + lease
    lease_column = col(table.lease_until)  # type: ignore[attr-defined]  # leased queues have lease_until
    session.execute(update(table).where(ident.in_(ids), due).values(lease_until=until, **(set_values or {})))
    return list(session.exec(select(table).where(ident.in_(ids), lease_column == until)).all())
