"""Events written together: one multi-row INSERT for all the events of a piece of work.

Added one by one, each event is an INSERT of its own (the ORM fetches every new row's id, and on
SQLite it can do that only row by row). Nothing reads an event's id back, so inside
:func:`together` events wait in a list and are written in one ``executemany`` at its end, or
earlier when something in it reads events (:func:`write_waiting`, called by the readers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from storage.models import Event

# session.info key of the events waiting inside together().
_WAITING = "gk_events_waiting"


def hold(session: Session, row: dict[str, Any]) -> bool:
    """Keep ``row`` for the enclosing :func:`together`; False when there is none."""
    waiting: list[dict[str, Any]] | None = session.info.get(_WAITING)
    if waiting is None:
        return False
    waiting.append(row)
    return True


def write_waiting(session: Session) -> None:
    """Write the events waiting so far, so that a query sees them."""
    waiting: list[dict[str, Any]] | None = session.info.get(_WAITING)
    if waiting:
        # Core, not the ORM's bulk insert: its bookkeeping cost more than the statement. Every
        # event names a flushed inquiry (it has its id), so nothing needs flushing first.
        session.connection().execute(insert(Event.__table__), list(waiting))  # type: ignore[attr-defined]
        waiting.clear()


@contextmanager
def together(session: Session) -> Iterator[None]:
    if _WAITING in session.info:  # inside one already: its end writes these too
        yield
        return
    session.info[_WAITING] = []
    try:
        yield
        write_waiting(session)
    finally:
        del session.info[_WAITING]
