"""The staff's own records: absences and API tokens (storage/staff_models.py).

Employees themselves are found with storage/inquiry_repo.employee_by_key.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.models import Absence, Employee
from storage.staff_models import ApiToken


def absences(session: Session, *, of_each: Sequence[str] = ()) -> list[Absence]:
    """Absences by start and id. Each key in ``of_each`` is a condition of its own (the caller's
    own key, the employee asked for): two different keys match nothing."""
    stmt = select(Absence).order_by(col(Absence.starts_on), col(Absence.id))
    for employee_key in of_each:
        stmt = stmt.where(Absence.employee_key == employee_key)
    return list(session.exec(stmt).all())


def api_tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked ones too, by id."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))).all())


def live_token(session: Session, *, token_hash: str) -> tuple[ApiToken, Employee] | None:
    """The unrevoked token with this hash and its employee, if the employee is active."""
    row = session.exec(
        select(ApiToken, Employee)
        .join(Employee, col(Employee.key) == col(ApiToken.employee_key))
        .where(
            ApiToken.token_hash == token_hash,
            col(ApiToken.revoked_at).is_(None),
            col(Employee.active).is_(True),
        )
    ).first()
    return (row[0], row[1]) if row else None


def drop_config_absences(session: Session) -> None:
    """Remove the absences read from the configuration (those entered through the API stay)."""
    session.execute(delete(Absence).where(col(Absence.source) == "config"))
