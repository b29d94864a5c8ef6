"""The media fetch queue: Twilio media to download, claimed with a lease, listed and requeued."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, or_, update
from sqlmodel import Session, col, select

from storage.twilio_models import MediaFetch
from storage.work_queue import claim_leased

PENDING, FETCHED, FAILED = "pending", "fetched", "failed"


def claim_media(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[MediaFetch]:
    """Take due media rows until now + lease; rows whose lease ran out (a fetcher died) are due again."""
    due = (col(MediaFetch.status) == PENDING) & or_(
        (col(MediaFetch.lease_until).is_(None)) & (col(MediaFetch.next_attempt_at) <= now),
        col(MediaFetch.lease_until) < now,
    )
    return claim_leased(session, MediaFetch, due=due, now=now, lease=lease, limit=limit)


def failed_media(session: Session, *, limit: int = 1000) -> list[MediaFetch]:
    return list(
        session.exec(
            select(MediaFetch).where(col(MediaFetch.status) == FAILED).order_by(col(MediaFetch.id)).limit(limit)
        ).all()
    )


def retry_media(session: Session, *, now: datetime, ids: Sequence[int] | None = None) -> int:
    """Queue given-up media again (all, or those named), after the cause was fixed (e.g. the credentials)."""
    stmt = update(MediaFetch).where(col(MediaFetch.status) == FAILED)
    if ids is not None:
        stmt = stmt.where(col(MediaFetch.id).in_(list(ids)))
    result = session.execute(stmt.values(status=PENDING, attempts=0, next_attempt_at=now, lease_until=None))
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)
