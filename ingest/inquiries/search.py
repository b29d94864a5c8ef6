"""The inquiry list's filters as SQL, the same on SQLite and PostgreSQL.

Case-insensitive text search folds both sides with the database's ``lower``
on PostgreSQL (Unicode-aware with a UTF-8 locale). SQLite's own ``lower``
folds only ASCII, so on SQLite a Python function doing the same is
registered on the connection and used instead: ``Ūdens`` finds ``ūdens``
on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.models import Employee, Inquiry, InquiryStatus, Message

# Every day asked for (a search, a period, an absence) lies in these years: year 1 or 9999 would
# overflow on the way to a moment in the office's time zone (a 500), and no inquiry lies outside.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)

FOLD_FUNCTION = "gk_fold"


def _fold(value: str | None) -> str | None:
    return value.lower() if value is not None else None


@dataclass(frozen=True)
class InquiryFilters:
    status: str | None = None
    channel: str | None = None
    topic: str | None = None
    kind: str | None = None
    employee: str | None = None
    overdue: bool | None = None
    received_from: date | None = None
    received_to: date | None = None
    q: str | None = None

    def used(self) -> list[str]:
        """The names of the filters given (for the audit log: names, not values; q may be a name)."""
        return [name for name, value in self.__dict__.items() if value is not None]


def prepare(session: Session) -> str:
    """The dialect; on SQLite, make the fold function available on this session's connection."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        raw: Any = session.connection().connection.dbapi_connection
        raw.create_function(FOLD_FUNCTION, 1, _fold, deterministic=True)
    return dialect


def _folded(column: Any, dialect: str) -> Any:
    return getattr(func, FOLD_FUNCTION)(column) if dialect == "sqlite" else func.lower(column)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def conditions(filters: InquiryFilters, *, dialect: str, now: datetime, tz: ZoneInfo) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if filters.status is not None:
        out.append(col(Inquiry.status) == filters.status)
    if filters.channel is not None:
        out.append(col(Inquiry.channel) == filters.channel)
    if filters.topic is not None:
        out.append(col(Inquiry.topic) == filters.topic)
    if filters.kind is not None:
        out.append(col(Inquiry.kind) == filters.kind)
    if filters.employee is not None:
        out.append(col(Inquiry.employee_id).in_(select(col(Employee.id)).where(col(Employee.key) == filters.employee)))
    if filters.overdue is not None:
        # Overdue: still open (the clock runs) and past its due time. Waiting for the client is not.
        late = and_(
            col(Inquiry.status) == InquiryStatus.OPEN.value,
            col(Inquiry.due_at).is_not(None),
            col(Inquiry.due_at) < now,
        )
        out.append(late if filters.overdue else not_(late))
    # Dates are the office's calendar days.
    if filters.received_from is not None:
        out.append(col(Inquiry.received_at) >= _day_start(filters.received_from, tz))
    if filters.received_to is not None:
        out.append(col(Inquiry.received_at) < _day_start(filters.received_to + timedelta(days=1), tz))
    q = (filters.q or "").replace("\x00", "").strip()  # PostgreSQL takes no NUL in text
    if q:
        needle = q.lower()
        in_messages = exists(
            select(col(Message.id)).where(
                col(Message.inquiry_id) == col(Inquiry.id),
                or_(
                    _folded(col(Message.text), dialect).contains(needle, autoescape=True),
                    _folded(col(Message.subject), dialect).contains(needle, autoescape=True),
                ),
            )
        )
        out.append(
            or_(
                col(Inquiry.reference) == q.upper(),
                _folded(col(Inquiry.subject), dialect).contains(needle, autoescape=True),
                in_messages,
            )
        )
    return out
