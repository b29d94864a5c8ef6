"""Closing an inquiry without writing to the client (with a reason), and reopening it.

An inquiry answered by phone, a duplicate, a client's "thank you" that needs no answer, or spam
is closed with its reason: nothing is sent to the client, the reminders stop, and the figures
count it apart (closed, not answered). A closed or answered inquiry can be reopened; its due
date stands as it was (policy 10.1: the deadline does not restart).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.i18n import N_
from ingest.inquiries import call_back
from ingest.inquiries.clock import cancel_alarms
from ingest.inquiries.errors import InquiryError
from storage import repo
from storage.actors import Actor
from storage.models import OPEN_STATUSES, Inquiry, InquiryStatus

CLOSE_REASONS = ("answered_by_phone", "duplicate", "no_answer_needed", "spam")
REOPENABLE = (InquiryStatus.ANSWERED.value, InquiryStatus.CLOSED.value)


def close(session: Session, *, inquiry: Inquiry, reason: str, actor: Actor, now: datetime) -> None:
    """Close the inquiry for ``reason``; nothing is sent to the client."""
    if reason not in CLOSE_REASONS:
        raise InquiryError(N_("The reason must be one of %(reasons)s."), reasons=", ".join(CLOSE_REASONS))
    if inquiry.status not in (*OPEN_STATUSES, InquiryStatus.ANSWERED.value):
        raise InquiryError(N_("%(reference)s is already closed."), reference=inquiry.reference)
    assert inquiry.id is not None
    was = inquiry.status
    inquiry.status = InquiryStatus.CLOSED.value
    inquiry.clock_paused_at = None
    inquiry.updated_at = now
    session.add(inquiry)
    cancel_alarms(session, inquiry_id=inquiry.id)
    call_back.settle(session, inquiry_id=inquiry.id, reason="closed", actor=actor, now=now)
    repo.add_event(
        session, inquiry_id=inquiry.id, type="closed", at=now, actor=actor, data={"reason": reason, "was": was}
    )


def reopen(session: Session, *, inquiry: Inquiry, actor: Actor, now: datetime) -> None:
    """Open an answered or closed inquiry again, with the due date it had."""
    if inquiry.status not in REOPENABLE:
        raise InquiryError(N_("%(reference)s is still open; only an answered or closed inquiry is reopened."),
                           reference=inquiry.reference)  # fmt: skip
    assert inquiry.id is not None
    was = inquiry.status
    inquiry.status = InquiryStatus.OPEN.value
    inquiry.updated_at = now
    session.add(inquiry)
    repo.add_event(session, inquiry_id=inquiry.id, type="reopened", at=now, actor=actor, data={"was": was})
