"""The monitoring figures' queries: rows by status, the oldest due outgoing message, overdue
inquiries and the staff notification latency, read at scrape time (ingest/metrics.py).

GROUP BY counts on status columns (most of them served by the status indexes) and one bounded
query for the latency.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.automatic_repo import kind_of_outcome
from storage.models import Inquiry, InquiryStatus, Message, Outbox, OutboxStatus, Receipt, ReceiptStatus
from storage.twilio_models import MediaFetch


def receipts_by_channel_and_status(session: Session) -> list[tuple[str, str, int]]:
    """(channel, status, how many) of the stored receipts."""
    rows = session.exec(
        select(Receipt.channel, Receipt.status, func.count()).group_by(Receipt.channel, Receipt.status)
    ).all()
    return [(channel, status, int(n)) for channel, status, n in rows]


def automatic_mail_by_reason(session: Session) -> list[tuple[str, bool, int]]:
    """(kind, kept without an inquiry, how many) of the automatic e-mail processed; the kind is the
    reason the pipeline's automatic step gave (bounce, auto-reply, generated, never-inquiry, ...)."""
    kind, kept = kind_of_outcome(), col(Receipt.message_id).is_(None)
    rows = session.exec(
        select(kind, kept, func.count())
        .where(
            col(Receipt.channel) == "email", col(Receipt.status) == ReceiptStatus.PROCESSED.value, kind.is_not(None)
        )  # fmt: skip
        .group_by(kind, kept)
    ).all()
    return [(str(k), bool(is_kept), int(n)) for k, is_kept, n in rows]


def outbox_by_channel_and_status(session: Session) -> list[tuple[str, str, int]]:
    """(channel, status, how many) of the outgoing messages."""
    rows = session.exec(
        select(Outbox.channel, Outbox.status, func.count()).group_by(Outbox.channel, Outbox.status)
    ).all()
    return [(channel, status, int(n)) for channel, status, n in rows]


def oldest_due_outbox_at(session: Session, *, now: datetime) -> datetime | None:
    """When the longest-waiting pending outgoing message became due (None when none is due)."""
    oldest: datetime | None = session.exec(
        select(func.min(Outbox.next_attempt_at)).where(
            col(Outbox.status) == OutboxStatus.PENDING.value, col(Outbox.next_attempt_at) <= now
        )
    ).one()
    return oldest


def inquiries_by_status(session: Session) -> list[tuple[str, int]]:
    """(status, how many) of the inquiries."""
    rows = session.exec(select(Inquiry.status, func.count()).group_by(Inquiry.status)).all()
    return [(status, int(n)) for status, n in rows]


def overdue_inquiry_count(session: Session, *, now: datetime) -> int:
    """Open inquiries past their due time."""
    return int(
        session.exec(
            select(func.count()).where(col(Inquiry.status) == InquiryStatus.OPEN.value, col(Inquiry.due_at) < now)
        ).one()
    )


def media_fetches_by_status(session: Session) -> list[tuple[str, int]]:
    """(status, how many) of the media downloads."""
    rows = session.exec(select(MediaFetch.status, func.count()).group_by(MediaFetch.status)).all()
    return [(status, int(n)) for status, n in rows]


def staff_notification_times(
    session: Session, *, sent_since: datetime, limit: int
) -> list[tuple[datetime | None, datetime | None]]:
    """(sent, first receipt stored) of each inquiry's first staff notification sent since ``sent_since``;
    the newest ``limit`` of them."""
    first_notice = aliased(Outbox)
    first_id = (
        select(func.min(first_notice.id))
        .where(first_notice.inquiry_id == Outbox.inquiry_id, first_notice.kind == "staff_notification")
        .scalar_subquery()
    )
    first_received = (
        select(func.min(Receipt.received_at))
        .join(Message, col(Message.receipt_id) == col(Receipt.id))
        .where(col(Message.inquiry_id) == Outbox.inquiry_id)
        .scalar_subquery()
    )
    rows = session.exec(
        select(Outbox.sent_at, first_received)
        .where(
            col(Outbox.kind) == "staff_notification",
            col(Outbox.status) == OutboxStatus.SENT.value,
            col(Outbox.sent_at) >= sent_since,
            col(Outbox.id) == first_id,
        )
        .order_by(col(Outbox.id).desc())
        .limit(limit)
    ).all()
    return [(sent, received) for sent, received in rows]
