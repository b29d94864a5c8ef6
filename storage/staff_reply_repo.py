"""What a staff reply by e-mail is checked against: whom an inquiry's notifications went to, when
it was closed, and whether its data was erased (ingest/pipeline/staff_reply.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import Event, Outbox
from storage.privacy_repo import ANONYMISED_EVENT


def staff_recipients(
    session: Session, *, inquiry_ids: Sequence[int], kinds: Sequence[str], excluding: Sequence[str] = ()
) -> set[str]:
    """The addresses (lower case) that outbox rows of these inquiries whose kind starts with one of
    ``kinds`` (and is none of ``excluding``) were written to."""
    if not inquiry_ids or not kinds:
        return set()
    rows = session.exec(
        select(Outbox.kind, Outbox.recipient).where(col(Outbox.inquiry_id).in_(list(inquiry_ids)))
    ).all()
    return {r.lower() for kind, r in rows if kind.startswith(tuple(kinds)) and kind not in excluding}


def last_closed_at(session: Session, *, inquiry_id: int) -> datetime | None:
    """When the inquiry was last closed (its latest ``closed`` event)."""
    return session.exec(
        select(func.max(Event.at)).where(Event.inquiry_id == inquiry_id, Event.type == "closed")
    ).first()


def is_anonymised(session: Session, *, inquiry_ids: Sequence[int]) -> bool:
    """Whether any of these inquiries was anonymised (erasure or retention)."""
    if not inquiry_ids:
        return False
    found = session.exec(
        select(Event.id).where(col(Event.inquiry_id).in_(list(inquiry_ids)), Event.type == ANONYMISED_EVENT).limit(1)
    ).first()
    return found is not None
