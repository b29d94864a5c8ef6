"""Changing an inquiry's complexity: the due date follows (policy 10.1)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.i18n import N_
from ingest.inquiries.clock import schedule_alarms
from ingest.inquiries.errors import InquiryError
from router.calendar import WorkingCalendar
from router.deadlines import DeadlinePolicy
from storage import repo
from storage.actors import Actor
from storage.models import OPEN_STATUSES, Inquiry, InquiryStatus


def change_complexity(
    session: Session,
    *,
    inquiry: Inquiry,
    complexity: str,
    working_days: int,
    actor: Actor,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    now: datetime,
) -> str:
    """Set the complexity and recompute the due date; returns the old complexity.

    The due date counts again from receipt with the new number of working days. Time the
    inquiry spent waiting for the client is not added back: the clock resumes from the new due
    date when the client answers.
    """
    if inquiry.status not in OPEN_STATUSES:
        raise InquiryError(N_("%(reference)s is no longer open."), reference=inquiry.reference)
    if inquiry.complexity == complexity:
        raise InquiryError(N_("%(reference)s already has this complexity."), reference=inquiry.reference)
    assert inquiry.id is not None
    old_complexity, old_due = inquiry.complexity, inquiry.due_at
    counted_from = calendar.start_of_counting(inquiry.received_at)
    inquiry.complexity = complexity
    inquiry.due_at = calendar.due_at(inquiry.received_at, working_days)
    inquiry.updated_at = now
    session.add(inquiry)
    repo.add_event(
        session,
        inquiry_id=inquiry.id,
        type="complexity_changed",
        at=now,
        actor=actor,
        data={
            "from": old_complexity,
            "to": complexity,
            "old_due_at": old_due.isoformat() if old_due else None,
            "due_at": inquiry.due_at.isoformat() if inquiry.due_at else None,
            "due": calendar.explain_due(inquiry.received_at, working_days),
        },
    )
    if inquiry.status == InquiryStatus.OPEN.value:
        # Waiting: no alarms until the client answers (resume_clock schedules them).
        schedule_alarms(session, inquiry=inquiry, calendar=calendar, policy=policy, counted_from=counted_from,
                        now=now)  # fmt: skip
    return old_complexity
