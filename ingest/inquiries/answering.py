"""Marking an inquiry answered: the same record whether the answer came by e-mail or the API.

The pipeline's e-mail path (``Pipeline._staff_reply``) does the same today; it
can call :func:`mark_answered` instead of its own copy.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.inquiries.clock import cancel_alarms
from storage import repo
from storage.models import Inquiry, InquiryStatus, Outbox


def mark_answered(
    session: Session,
    *,
    inquiry: Inquiry,
    actor: str,
    message_id: int | None,
    sent: Outbox | None,
    now: datetime,
    via: str = "email",
) -> None:
    """First response and answer times, status answered, reminders cancelled, the ``answered`` event."""
    assert inquiry.id is not None
    inquiry.first_response_at = inquiry.first_response_at or now
    inquiry.answered_at = now
    inquiry.status = InquiryStatus.ANSWERED.value
    inquiry.clock_paused_at = None
    inquiry.updated_at = now
    session.add(inquiry)
    cancel_alarms(session, inquiry_id=inquiry.id)
    repo.add_event(
        session,
        inquiry_id=inquiry.id,
        type="answered",
        at=now,
        actor=actor,
        data={
            "message_id": message_id,
            "channel": inquiry.channel,
            "on_time": inquiry.due_at is None or now <= inquiry.due_at,
            "outbox_id": sent.id if sent else None,
            "via": via,
        },
    )
