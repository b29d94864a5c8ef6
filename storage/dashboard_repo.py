"""The dashboard's login sessions (storage/dashboard_models.py): found with their employee, and
deleted when they end. Rows are found by their id, the SHA-256 of the cookie's token.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from storage.dashboard_models import DashboardSession
from storage.models import Employee


def delete_expired_sessions(session: Session, *, now: datetime, idle: timedelta) -> None:
    """Every session past its end, or idle for ``idle`` or longer, whoever's."""
    session.execute(
        delete(DashboardSession).where(
            or_(col(DashboardSession.expires_at) <= now, col(DashboardSession.last_seen_at) <= now - idle)
        )
    )


def session_with_employee(session: Session, *, session_id: str) -> tuple[DashboardSession, Employee] | None:
    """The session row with this id and its employee, whatever their state; None if there is none."""
    found = session.execute(
        select(DashboardSession, Employee)
        .join(Employee, col(Employee.key) == col(DashboardSession.employee_key))
        .where(col(DashboardSession.id) == session_id)
    ).first()
    if found is None:
        return None
    row, employee = found
    return row, employee


def delete_session(session: Session, *, session_id: str) -> None:
    session.execute(delete(DashboardSession).where(col(DashboardSession.id) == session_id))


def delete_sessions_of(session: Session, *, employee_key: str) -> int:
    """Every session of the employee; returns how many."""
    result = session.execute(delete(DashboardSession).where(col(DashboardSession.employee_key) == employee_key))
    return int(getattr(result, "rowcount", 0) or 0)
