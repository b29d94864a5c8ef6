"""Deadline alarms: replaced with each due date, claimed once when they fire, and the day's due list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, delete, update
from sqlmodel import Session, col, select

from storage.models import DeadlineAlarm, Employee, Inquiry, InquiryStatus


def drop_pending_alarms(session: Session, *, inquiry_id: int) -> None:
    """Remove the inquiry's alarms that have not fired yet."""
    session.execute(
        delete(DeadlineAlarm).where(col(DeadlineAlarm.inquiry_id) == inquiry_id, col(DeadlineAlarm.fired_at).is_(None))
    )


def move_pending_alarms(session: Session, *, from_id: int, to_id: int) -> int:
    """Give the alarms of one inquiry that have not fired to another; returns how many moved."""
    result = session.execute(
        update(DeadlineAlarm)
        .where(col(DeadlineAlarm.inquiry_id) == from_id, col(DeadlineAlarm.fired_at).is_(None))
        .values(inquiry_id=to_id)
    )
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def has_pending_alarms(session: Session, *, inquiry_id: int) -> bool:
    stmt = select(DeadlineAlarm.id).where(DeadlineAlarm.inquiry_id == inquiry_id, col(DeadlineAlarm.fired_at).is_(None))
    return session.exec(stmt.limit(1)).first() is not None


def due_alarm_ids(session: Session, *, now: datetime, limit: int) -> list[int]:
    stmt = (
        select(DeadlineAlarm.id)
        .where(col(DeadlineAlarm.fired_at).is_(None), col(DeadlineAlarm.fire_at) <= now)
        .order_by(col(DeadlineAlarm.fire_at))
        .limit(limit)
    )
    return [int(i) for i in session.exec(stmt).all() if i is not None]


def claim_alarm(session: Session, *, alarm_id: int, now: datetime) -> bool:
    """Mark the alarm fired inside the caller's transaction; False if another process fired it."""
    result = session.execute(
        update(DeadlineAlarm)
        .where(col(DeadlineAlarm.id) == alarm_id, col(DeadlineAlarm.fired_at).is_(None))
        .values(fired_at=now)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def open_due_by(session: Session, *, end: datetime) -> list[tuple[Inquiry, Employee]]:
    """Open inquiries due by ``end`` with their employee, earliest first. Waiting for the client
    stops the clock: those are not due."""
    stmt = (
        select(Inquiry, Employee)
        .join(Employee, col(Inquiry.employee_id) == col(Employee.id))
        .where(col(Inquiry.status) == InquiryStatus.OPEN.value, col(Inquiry.due_at) <= end)
        .order_by(col(Inquiry.due_at))
    )
    return [(inquiry, employee) for inquiry, employee in session.exec(stmt).all()]
