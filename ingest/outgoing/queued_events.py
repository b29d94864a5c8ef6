"""The ``…_queued`` event that records each outgoing message on its inquiry's timeline.

The event names the outbox row, so the row must be flushed first to have its id. Queued one by
one, that is a flush (an INSERT) per message; the pipeline queues a staff notification and an
acknowledgement together, so inside :func:`together` the rows wait and are flushed in one
multi-row INSERT at its end, and their events written after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session

from storage import repo
from storage.models import Outbox

# session.info key of the rows waiting for their events inside together().
_WAITING = "gk_queued_waiting"


def record_queued(session: Session, row: Outbox, *, at: datetime, data: dict[str, Any] | None = None) -> None:
    """The ``<kind>_queued`` event of ``row`` (added to the session already), now or at the end of
    the enclosing :func:`together`."""
    waiting = session.info.get(_WAITING)
    if waiting is not None:
        waiting.append((row, at, data or {}))
        return
    session.flush()
    _event(session, row, at, data or {})


@contextmanager
def together(session: Session) -> Iterator[None]:
    """Outgoing messages queued inside are flushed together, then their events recorded."""
    if _WAITING in session.info:  # already inside one: its end records these too
        yield
        return
    session.info[_WAITING] = []
    try:
        yield
        waiting = session.info[_WAITING]
    finally:
        del session.info[_WAITING]
    if waiting:
        session.flush()
    for row, at, data in waiting:
        _event(session, row, at, data)


def _event(session: Session, row: Outbox, at: datetime, data: dict[str, Any]) -> None:
    if row.inquiry_id is None:
        return
    repo.add_event(session, inquiry_id=row.inquiry_id, type=f"{row.kind}_queued", at=at,
                   data={"outbox_id": row.id, **data})  # fmt: skip
