"""The office's figures (policy clause 10: volumes, deadlines met and missed, per employee,
channel, topic and kind), computed once for both the dashboard and ``ingest report``.

Both call :func:`office_figures`, so the page and the CSV cannot disagree. What the
figures mean:

- ``open``: open or waiting for the client now; ``overdue``: open (the clock runs) and past
  its due time now. These two are the state at ``now``, whatever the period.
- ``received``: received in the period (office calendar days, inclusive);
  ``answered``: of those, answered; ``answered_on_time``: answered by the due time (or with
  no due time); ``missed``: answered late, or still open and past due.
- ``share_on_time`` = answered_on_time / (answered_on_time + missed): of the deadlines
  already decided, the share kept. Inquiries still within their time, waiting for the
  client, or closed without an answer are in neither part.

Each row is restricted by ``where``: the caller's visibility (ingest/access.py) on the
dashboard, everything for the board's report. Counting is done by the database
(``GROUP BY`` with conditional sums), so it scales with the table, not with Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.models import OPEN_STATUSES, Employee, Inquiry, InquiryStatus, Kind

# The kinds gathered as the office's shortcomings and ideas (policy clause 10, last paragraph).
FEEDBACK_KINDS = (Kind.COMPLAINT.value, Kind.SUGGESTION.value)
NOBODY = "-"  # the key of inquiries with no responsible employee
MAX_PERIOD_DAYS = 400


@dataclass(frozen=True)
class Period:
    """Office calendar days ``first`` to ``last``, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError("the period ends before it starts")
        if (self.last - self.first).days >= MAX_PERIOD_DAYS:
            raise ValueError(f"a period is at most {MAX_PERIOD_DAYS} days")

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware moments: midnight of the first day to midnight after the last."""
        return _midnight(self.first, tz), _midnight(self.last + timedelta(days=1), tz)

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()}/{self.last.isoformat()}"  # an ISO 8601 interval

    def iso_weeks(self) -> list[tuple[str, Period]]:
        """The ISO weeks the period touches, each cut to the period, so the weeks add up to it."""
        out = []
        monday = self.first - timedelta(days=self.first.weekday())
        while monday <= self.last:
            year, week, _ = monday.isocalendar()
            part = Period(max(monday, self.first), min(monday + timedelta(days=6), self.last))
            out.append((f"{year}-W{week:02d}", part))
            monday += timedelta(days=7)
        return out


def last_weeks(today: date, weeks: int) -> Period:
    """The ``weeks`` ISO weeks up to ``today``: from the Monday ``weeks - 1`` weeks back."""
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    return Period(monday, today)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


@dataclass(frozen=True)
class Counts:
    open: int = 0
    overdue: int = 0
    received: int = 0
    answered: int = 0
    answered_on_time: int = 0
    missed: int = 0

    @property
    def decided(self) -> int:
        return self.answered_on_time + self.missed

    @property
    def share_on_time(self) -> float | None:
        return self.answered_on_time / self.decided if self.decided else None

    @property
    def share_text(self) -> str:
        """The share as the CSV and the page's data attributes carry it: 0.750, or empty."""
        share = self.share_on_time
        return "" if share is None else f"{share:.3f}"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    counts: Counts


@dataclass(frozen=True)
class FeedbackItem:
    """A complaint or suggestion of the period. ``subject`` is the client's text: the dashboard
    shows it (escaped), the CSV leaves it out."""

    reference: str
    kind: str
    topic: str | None
    channel: str
    status: str
    employee: str
    received_at: datetime
    due_at: datetime | None
    answered_at: datetime | None
    subject: str | None
    counts: Counts


@dataclass(frozen=True)
class OfficeFigures:
    period: Period
    now: datetime
    total: Counts
    by_employee: list[Row]
    by_channel: list[Row]
    by_topic: list[Row]
    by_kind: list[Row]
    weeks: list[Row]
    feedback: list[FeedbackItem] = field(default_factory=list)

    def sections(self) -> list[tuple[str, list[Row]]]:
        return [
            ("employee", self.by_employee),
            ("channel", self.by_channel),
            ("topic", self.by_topic),
            ("kind", self.by_kind),
        ]


# -- the conditions, written once ---------------------------------------------------------------


@dataclass(frozen=True)
class _Conditions:
    is_open: ColumnElement[bool]
    overdue: ColumnElement[bool]
    received: ColumnElement[bool]
    answered: ColumnElement[bool]
    on_time: ColumnElement[bool]
    missed: ColumnElement[bool]


def _conditions(period: Period, now: datetime, tz: ZoneInfo) -> _Conditions:
    start, end = period.bounds(tz)
    received = and_(col(Inquiry.received_at) >= start, col(Inquiry.received_at) < end)
    # Overdue as the staff API's filter has it: the clock runs and the due time has passed.
    overdue = and_(
        col(Inquiry.status) == InquiryStatus.OPEN.value, col(Inquiry.due_at).is_not(None), col(Inquiry.due_at) < now
    )
    answered = and_(received, col(Inquiry.answered_at).is_not(None))
    in_time = or_(col(Inquiry.due_at).is_(None), col(Inquiry.answered_at) <= col(Inquiry.due_at))
    return _Conditions(
        is_open=col(Inquiry.status).in_(OPEN_STATUSES),
        overdue=overdue,
        received=received,
        answered=answered,
        on_time=and_(answered, in_time),
        missed=and_(received, or_(and_(col(Inquiry.answered_at).is_not(None), not_(in_time)), overdue)),
    )


def _sum(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _count_columns(c: _Conditions) -> list[Any]:
    return [_sum(c.is_open), _sum(c.overdue), _sum(c.received), _sum(c.answered), _sum(c.on_time), _sum(c.missed)]


def _counts(values: Sequence[Any]) -> Counts:
    return Counts(*(int(v or 0) for v in values))


def _grouped(session: Session, key: Any, where: ColumnElement[bool], c: _Conditions) -> dict[str, Counts]:
    rows = session.execute(
        select(key.label("k"), *_count_columns(c))
        .select_from(Inquiry)
        .outerjoin(Employee, col(Employee.id) == col(Inquiry.employee_id))
        # Only rows that count somewhere: open now, or received in the period.
        .where(where, or_(c.is_open, c.received))
        .group_by(key)
    ).all()
    return {(str(r[0]) if r[0] is not None else NOBODY): _counts(r[1:]) for r in rows}


def _rows(counts: dict[str, Counts], labels: dict[str, str]) -> list[Row]:
    return [Row(key=k, label=labels.get(k, k), counts=counts[k]) for k in sorted(counts)]


def office_figures(
    session: Session,
    *,
    period: Period,
    now: datetime,
    tz: ZoneInfo,
    where: ColumnElement[bool] | None = None,
    topic_names: dict[str, str] | None = None,
    feedback_limit: int | None = None,
) -> OfficeFigures:
    """All figures of ``period`` over the inquiries matching ``where`` (everything when None)."""
    visible: ColumnElement[bool] = where if where is not None else true()
    c = _conditions(period, now, tz)
    employees = {e.key: f"{e.name} {e.surname}".strip() or e.key for e in session.execute(select(Employee)).scalars()}
    total_row = session.execute(
        select(*_count_columns(c)).select_from(Inquiry).where(visible, or_(c.is_open, c.received))
    ).one()
    weeks = []
    for label, part in period.iso_weeks():
        wc = _conditions(part, now, tz)
        # A week's row is about the inquiries received in it; open and overdue now are left at 0.
        values = session.execute(select(*_count_columns(wc)).select_from(Inquiry).where(visible, wc.received)).one()
        counts = _counts(values)
        weeks.append(Row(key=label, label=label, counts=Counts(0, 0, *(
            counts.received, counts.answered, counts.answered_on_time, counts.missed)))
        )  # fmt: skip
    return OfficeFigures(
        period=period,
        now=now,
        total=_counts(total_row),
        by_employee=_rows(_grouped(session, col(Employee.key), visible, c), {**employees, NOBODY: "(nobody)"}),
        by_channel=_rows(_grouped(session, col(Inquiry.channel), visible, c), {}),
        by_topic=_rows(
            _grouped(session, col(Inquiry.topic), visible, c), {**(topic_names or {}), NOBODY: "(no topic)"}
        ),
        by_kind=_rows(_grouped(session, col(Inquiry.kind), visible, c), {}),
        weeks=weeks,
        feedback=_feedback(session, visible, c, limit=feedback_limit),
    )


def _feedback(
    session: Session, visible: ColumnElement[bool], c: _Conditions, *, limit: int | None
) -> list[FeedbackItem]:
    flags = [case((cond, 1), else_=0) for cond in (c.is_open, c.overdue, c.received, c.answered, c.on_time, c.missed)]
    query = (
        select(Inquiry, col(Employee.key), *flags)
        .outerjoin(Employee, col(Employee.id) == col(Inquiry.employee_id))
        .where(visible, c.received, col(Inquiry.kind).in_(FEEDBACK_KINDS))
        .order_by(col(Inquiry.received_at), col(Inquiry.id))
    )
    if limit is not None:
        query = query.limit(limit)
    out = []
    for inquiry, key, *values in session.execute(query).all():
        out.append(
            FeedbackItem(
                reference=inquiry.reference, kind=inquiry.kind, topic=inquiry.topic, channel=inquiry.channel,
                status=inquiry.status, employee=key or NOBODY, received_at=inquiry.received_at,
                due_at=inquiry.due_at, answered_at=inquiry.answered_at, subject=inquiry.subject, counts=_counts(values),
            )
        )  # fmt: skip
    return out


# -- today's due list (operational, not a figure of the period) ---------------------------------


@dataclass(frozen=True)
class DueItem:
    reference: str
    kind: str
    topic: str | None
    channel: str
    employee: str
    due_at: datetime
    overdue: bool
    subject: str | None


def due_today(
    session: Session, *, now: datetime, tz: ZoneInfo, where: ColumnElement[bool] | None = None, limit: int = 200
) -> list[DueItem]:
    """Open inquiries due by the end of today (office time), overdue ones first (oldest due first)."""
    visible: ColumnElement[bool] = where if where is not None else true()
    end_of_today = _midnight(now.astimezone(tz).date() + timedelta(days=1), tz)
    rows = session.execute(
        select(Inquiry, col(Employee.key))
        .outerjoin(Employee, col(Employee.id) == col(Inquiry.employee_id))
        .where(
            visible,
            col(Inquiry.status) == InquiryStatus.OPEN.value,
            col(Inquiry.due_at).is_not(None),
            col(Inquiry.due_at) < end_of_today,
        )
        .order_by(col(Inquiry.due_at), col(Inquiry.id))
        .limit(limit)
    ).all()
    out = []
    for inquiry, key in rows:
        assert inquiry.due_at is not None
        out.append(
            DueItem(
                reference=inquiry.reference, kind=inquiry.kind, topic=inquiry.topic, channel=inquiry.channel,
                employee=key or NOBODY, due_at=inquiry.due_at, overdue=inquiry.due_at < now, subject=inquiry.subject,
            )
        )  # fmt: skip
    return out
