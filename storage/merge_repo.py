"""Merging one inquiry into another: moving its parts, and following where a merged one went.

Messages and events carry the inquiry's id and move with an UPDATE; attachments belong to their
message and move with it. Outbox and audit rows keep the inquiry they were written for (they are
history), so a reply that threads by one of our sent messages can still find the merged
inquiry: :func:`final_inquiry` takes it on to the one it was merged into.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from storage.models import Event, Inquiry, Message

# A chain of merges longer than this is not followed further (a loop cannot be built through
# ingest/inquiries/merging.py, but a row edited by hand could make one).
MAX_HOPS = 100


def _moved(session: Session, table: type[Message] | type[Event], *, source_id: int, target_id: int) -> int:
    # An ORM update: rows of the table already loaded in the session are given the new id too
    # (synchronize_session), so a later flush cannot write the old one back.
    result = session.execute(update(table).where(col(table.inquiry_id) == source_id).values(inquiry_id=target_id))
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def move_parts(session: Session, *, source_id: int, target_id: int) -> tuple[int, int]:
    """Give the source's messages (with their attachments) and events to the target, keeping
    their times; returns how many messages and events moved."""
    session.flush()  # events added to the session but not yet written move too
    messages = _moved(session, Message, source_id=source_id, target_id=target_id)
    events = _moved(session, Event, source_id=source_id, target_id=target_id)
    return messages, events


def final_inquiry(session: Session, inquiry: Inquiry) -> Inquiry:
    """The inquiry that ``inquiry`` was merged into, through a chain of merges; itself if it was
    not merged. A loop or a missing row ends the walk at the last inquiry reached."""
    seen = {inquiry.id}
    current = inquiry
    while current.merged_into_id is not None and current.merged_into_id not in seen and len(seen) <= MAX_HOPS:
        following = session.get(Inquiry, current.merged_into_id)
        if following is None:
            break
        seen.add(following.id)
        current = following
    return current


def locked_final(session: Session, inquiry: Inquiry) -> Inquiry:
    """:func:`final_inquiry`, read again under a row lock (PostgreSQL: SELECT ... FOR UPDATE;
    SQLite's write transaction holds the whole database) until the inquiry reached is not merged.

    A merge locks its two rows too, so what is added to the inquiry returned either comes before
    a merge of it (and moves with the rest) or sees the merge done and goes to the final one.
    """
    current = inquiry
    for _ in range(MAX_HOPS):
        session.refresh(current, with_for_update=True)
        following = final_inquiry(session, current)
        if following is current:
            break
        current = following
    return current


def references_by_id(session: Session, *, ids: Iterable[int | None]) -> dict[int, str]:
    """The public references of these inquiries (for the ``merged_into`` pointers of a list)."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.exec(select(Inquiry.id, Inquiry.reference).where(col(Inquiry.id).in_(wanted))).all()
    return {int(i): ref for i, ref in rows if i is not None}


def merged_sources(session: Session, *, inquiry_id: int) -> list[int]:
    """The inquiries merged into this one, directly or through a chain of merges."""
    found: list[int] = []
    frontier = [inquiry_id]
    while frontier and len(found) <= MAX_HOPS:
        rows = session.exec(select(Inquiry.id).where(col(Inquiry.merged_into_id).in_(frontier))).all()
        frontier = [int(i) for i in rows if i is not None and i not in found and i != inquiry_id]
        found.extend(frontier)
    return found
