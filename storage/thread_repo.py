"""Queries of one client's conversation across channels: the inquiry a new message joins, the
acknowledgements and messages that tell a loop from a client, and contacts linked by staff."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from storage.models import OPEN_STATUSES, Inquiry, InquiryStatus, Message, Outbox


def thread_candidates(
    session: Session, *, contact_id: int, since: datetime, any_age_channels: Sequence[str] = (), limit: int = 5
) -> list[Inquiry]:
    """The client's inquiries a new message may join: open ones active at or after ``since`` (on
    ``any_age_channels``, whatever their age), then ones answered at or after ``since``; the most
    recently active first. Merged inquiries are left out (their target is found instead)."""
    is_open = col(Inquiry.status).in_(OPEN_STATUSES)
    recent = or_(col(Inquiry.updated_at) >= since, col(Inquiry.received_at) >= since)
    open_ok = and_(is_open, or_(recent, col(Inquiry.channel).in_(list(any_age_channels))))
    answered_ok = and_(col(Inquiry.status) == InquiryStatus.ANSWERED.value, col(Inquiry.answered_at) >= since)
    stmt = (
        select(Inquiry)
        .where(Inquiry.contact_id == contact_id, col(Inquiry.merged_into_id).is_(None), or_(open_ok, answered_ok))
        .order_by(case((is_open, 0), else_=1), col(Inquiry.updated_at).desc(), col(Inquiry.id).desc())
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def acknowledgements_of(session: Session, *, inquiry_id: int) -> int:
    """Acknowledgements queued for one inquiry (never more than one)."""
    stmt = select(func.count(col(Outbox.id))).where(Outbox.kind == "client_ack", Outbox.inquiry_id == inquiry_id)
    # Not flushed: the staff notification queued with the acknowledgement is written with it.
    with session.no_autoflush:
        return int(session.exec(stmt).one())


def messages_from_contact(session: Session, *, contact_id: int, since: datetime) -> int:
    """Messages received from the client at or after ``since``, on any channel and inquiry."""
    stmt = (
        select(func.count(col(Message.id)))
        .join(Inquiry, col(Inquiry.id) == col(Message.inquiry_id))
        .where(Inquiry.contact_id == contact_id, Message.direction == "in", col(Message.received_at) >= since)
    )
    return int(session.exec(stmt).one())


def move_inquiries(session: Session, *, from_id: int, to_id: int) -> list[int]:
    """The inquiries of one contact handed to another (two contacts linked into one)."""
    inquiries = list(session.exec(select(Inquiry).where(Inquiry.contact_id == from_id)).all())
    for inquiry in inquiries:
        inquiry.contact_id = to_id
        session.add(inquiry)
    return [i.id for i in inquiries if i.id is not None]
