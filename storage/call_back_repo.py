"""The call-back tasks of an inquiry (ingest/inquiries/call_back.py) as its events record them,
and cancelling the reminders that are no longer owed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage import event_buffer
from storage.models import Event, Inquiry, Outbox, OutboxStatus

TASK = "call_back_task"
REMINDER_KIND = "staff_call_back_reminder"
# The reminder's ``<kind>_queued`` event names its outbox row and moves with the task's event when
# inquiries are merged, while the row keeps its inquiry: the event is what finds the row again.
REMINDER_QUEUED = f"{REMINDER_KIND}_queued"
DONE = "call_back_done"  # the call was logged
CANCELLED = "call_back_cancelled"  # no longer owed: the inquiry was answered or closed
SETTLED = (DONE, CANCELLED)


def lock_inquiry(session: Session, *, inquiry_id: int) -> None:
    """The inquiry's row locked until the transaction ends (PostgreSQL; on SQLite the write
    transaction holds the database already)."""
    session.execute(select(col(Inquiry.id)).where(col(Inquiry.id) == inquiry_id).with_for_update())


def task_events(session: Session, *, inquiry_id: int) -> list[Event]:
    """The inquiry's tasks, their reminders queued and how they were settled, oldest first."""
    event_buffer.write_waiting(session)  # events still waiting to be written count too
    session.flush()
    stmt = (
        select(Event)
        .where(col(Event.inquiry_id) == inquiry_id, col(Event.type).in_((TASK, REMINDER_QUEUED, *SETTLED)))
        .order_by(col(Event.id))
    )
    return list(session.exec(stmt).all())


def cancel_reminders(session: Session, *, outbox_ids: Sequence[int]) -> list[int]:
    """Those of the rows still waiting to be sent, cancelled: the outbox never claims them. A row a
    sender holds already (``sending``) or has sent is left as it is. Returns the ids cancelled."""
    if not outbox_ids:
        return []
    stmt = (
        update(Outbox)
        .where(col(Outbox.id).in_(sorted(set(outbox_ids))), col(Outbox.status) == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.CANCELLED.value, next_attempt_at=None)
        .returning(col(Outbox.id))
        .execution_options(synchronize_session=False)
    )
    return sorted(int(i) for i in session.execute(stmt).scalars())
