"""Merging an inquiry into another of the same client (issue 12, item 3 "merge").

The typical case: a missed call from a client who also wrote on WhatsApp became an inquiry of its
own; staff merge the call into the WhatsApp inquiry, so the client has one inquiry, one employee
and one deadline.

- The source's messages (with their attachments) and events move to the target with their times;
  outbox and audit rows stay where they were written (history).
- The earlier of the two due dates stands on the target (policy 10.1: a deadline is never moved
  later by a change staff make). The deadline alarms follow it: when the source's date stands, its
  unfired alarms (computed for that date) move to the target in place of the target's own;
  otherwise the source's are dropped.
- A target that was answered or closed while the source was still open (or waiting) is open
  again: the client's newer question has not been answered yet. Its due date is the one above.
- The source is closed with ``merged_into_id`` pointing at the target: its reference still answers
  (with the pointer), and a reply that threads onto it lands on the target (the pipeline follows
  the pointer, storage/merge_repo.py ``final_inquiry``).
- Refused: merging into itself, across clients, an inquiry already merged, into a merged one, a
  complaint with anything but a complaint (a complaint is hidden from the employees it names; its
  file must not widen either way), and a complaint into one handled by an employee it names.
- A target waiting for the client while the source is open runs again (resume_clock) before the
  earlier due date is chosen: the client's newer message waits for an answer.
- Both rows are locked first (PostgreSQL), so a merge the other way round at the same moment
  waits and then finds this one done.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.i18n import N_
from ingest.inquiries.clock import cancel_alarms, resume_clock
from ingest.inquiries.errors import InquiryError
from ingest.inquiries.reassign import named_in_complaint
from router.calendar import WorkingCalendar
from router.deadlines import DeadlinePolicy
from storage import alarm_repo, inquiry_repo, merge_repo, repo
from storage.actors import Actor
from storage.models import OPEN_STATUSES, Employee, Inquiry, InquiryStatus, Kind

# The word the source's closing is recorded with (next to close reasons such as "duplicate").
MERGED = "merged"


def refusal(source: Inquiry, target: Inquiry) -> InquiryError | None:
    """Why ``source`` cannot be merged into ``target``; None when it can (the page offers only those)."""
    this, other = source.reference, target.reference
    if source.id == target.id:
        return InquiryError(N_("%(reference)s cannot be merged into itself."), reference=this)
    if source.contact_id != target.contact_id:
        return InquiryError(N_("%(reference)s and %(other)s are inquiries of different clients."),
                            reference=this, other=other)  # fmt: skip
    if source.merged_into_id is not None:
        return InquiryError(N_("%(reference)s is already merged into another inquiry."), reference=this)
    if target.merged_into_id is not None:
        return InquiryError(N_("%(reference)s is merged into another inquiry; merge into that one."), reference=other)
    if (source.kind == Kind.COMPLAINT.value) != (target.kind == Kind.COMPLAINT.value):
        # Either way the complaint's file would widen: its text onto an ordinary inquiry, or those
        # who handled the ordinary one (events they made) seeing the complaint.
        return InquiryError(N_("%(reference)s and %(other)s: a complaint is merged only with a complaint."),
                            reference=this, other=other)  # fmt: skip
    return None


def _names_assignee(session: Session, source: Inquiry, target: Inquiry) -> InquiryError | None:
    """A complaint must not come, by a merge, to the employee it names (policy 13; reassign refuses it too)."""
    assignee = session.get(Employee, target.employee_id) if target.employee_id else None
    if (
        assignee is not None
        and source.kind == Kind.COMPLAINT.value
        and assignee.key in named_in_complaint(session, source)
    ):
        return InquiryError(N_("%(reference)s names %(employee)s, who handles %(other)s: reassign that one first."),
                            reference=source.reference, employee=assignee.key, other=target.reference)  # fmt: skip
    return None


def merge(
    session: Session,
    *,
    source: Inquiry,
    target: Inquiry,
    actor: Actor,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    now: datetime,
) -> None:
    """Merge ``source`` into ``target`` (same client); InquiryError if it cannot be done."""
    # Both rows locked (in id order, so two merges cannot deadlock) and read again before deciding:
    # a merge the other way round, or a message reopening one of them, waits or is seen.
    for row in sorted((source, target), key=lambda i: i.id or 0):
        session.refresh(row, with_for_update=True)
    why = refusal(source, target) or _names_assignee(session, source, target)
    if why is not None:
        raise why
    assert source.id is not None and target.id is not None
    if source.status == InquiryStatus.OPEN.value and target.status == InquiryStatus.WAITING_CLIENT.value:
        # The client's newer message is waiting for an answer: the target's clock runs again.
        resume_clock(session, inquiry=target, calendar=calendar, policy=policy, now=now)
    source_was, target_was, old_due = source.status, target.status, target.due_at
    moved_routing = [e.id for e in inquiry_repo.routed_events(session, inquiry_id=source.id)]
    source_due_stands = source.due_at is not None and (old_due is None or source.due_at < old_due)
    messages, events = merge_repo.move_parts(session, source_id=source.id, target_id=target.id)
    _follow_due_date(session, source=source, target=target, source_due_stands=source_due_stands)
    reopened = target_was in (InquiryStatus.ANSWERED.value, InquiryStatus.CLOSED.value) and source_was in OPEN_STATUSES
    if reopened:
        target.status = InquiryStatus.OPEN.value
        target.clock_paused_at = None
    target.updated_at = now
    source.status = InquiryStatus.CLOSED.value
    source.clock_paused_at = None
    source.merged_into_id = target.id
    source.updated_at = now
    session.add_all([source, target])
    if target.status != InquiryStatus.OPEN.value:
        cancel_alarms(session, inquiry_id=target.id)  # waiting for the client: the clock stands still
    # The events are added after the move, so each stays with its own inquiry.
    repo.add_event(
        session, inquiry_id=target.id, type="merged", at=now, actor=actor,
        data={"from": source.reference, "messages": messages, "events": events, "was": source_was,
              "old_due_at": _iso(old_due), "due_at": _iso(target.due_at), "moved_routing": moved_routing},
    )  # fmt: skip
    if reopened:
        repo.add_event(session, inquiry_id=target.id, type="reopened", at=now, actor=actor,
                       data={"was": target_was, "why": MERGED})  # fmt: skip
    repo.add_event(session, inquiry_id=source.id, type="merged_into", at=now, actor=actor,
                   data={"into": target.reference, "reason": MERGED, "was": source_was})  # fmt: skip


def _follow_due_date(session: Session, *, source: Inquiry, target: Inquiry, source_due_stands: bool) -> None:
    """The earlier due date on the target, with the alarms computed for it; none left on the source."""
    assert source.id is not None and target.id is not None
    # A waiting source has no alarms (its clock stands): the target keeps its own rather than none.
    if source_due_stands and alarm_repo.has_pending_alarms(session, inquiry_id=source.id):
        cancel_alarms(session, inquiry_id=target.id)
        alarm_repo.move_pending_alarms(session, from_id=source.id, to_id=target.id)
    cancel_alarms(session, inquiry_id=source.id)
    if source_due_stands:
        target.due_at = source.due_at


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
