"""Deadline alarms: replaced with each due date, claimed once when they fire, and the day's due list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, delete, func, update
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


def due_alarm_inquiries(session: Session, *, now: datetime, limit: int) -> list[int]:
    """The inquiries with alarms due at ``now``, the longest waiting first: the sweep takes all of an
    inquiry's due alarms together, so that those that piled up while it did not run go out as one."""
    first = func.min(col(DeadlineAlarm.fire_at))
    stmt = (
        select(DeadlineAlarm.inquiry_id, first)
        .where(col(DeadlineAlarm.fired_at).is_(None), col(DeadlineAlarm.fire_at) <= now)
        .group_by(col(DeadlineAlarm.inquiry_id))
        .order_by(first, col(DeadlineAlarm.inquiry_id))
        .limit(limit)
    )
    return [int(inquiry_id) for inquiry_id, _ in session.exec(stmt).all()]


def due_alarms_of(session: Session, *, inquiry_id: int, now: datetime) -> list[DeadlineAlarm]:
    """The inquiry's alarms due at ``now`` and not fired, in time order."""
    stmt = (
        select(DeadlineAlarm)
        .where(
            col(DeadlineAlarm.inquiry_id) == inquiry_id,
            col(DeadlineAlarm.fired_at).is_(None),
            col(DeadlineAlarm.fire_at) <= now,
        )
        .order_by(col(DeadlineAlarm.fire_at), col(DeadlineAlarm.id))
    )
    return list(session.exec(stmt).all())


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
