"""The office figures' queries (policy clause 10): inquiries counted by the database, in total, per
week and grouped by employee, channel, topic or kind, the period's complaints and suggestions,
and the open inquiries due soon.

What each count means is told in ingest/dashboard/figures.py, which builds the figures from these.
Every query takes ``where``, the caller's visibility (everything when None). Counting is
``GROUP BY`` with conditional sums, so it scales with the table, not with Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import and_, case, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.models import OPEN_STATUSES, Employee, Inquiry, InquiryStatus

# What the inquiries can be grouped by, and the column each is.
Dimension = Literal["employee", "channel", "topic", "kind"]
_DIMENSION_COLUMNS: dict[Dimension, Any] = {
    "employee": col(Employee.key),
    "channel": col(Inquiry.channel),
    "topic": col(Inquiry.topic),
    "kind": col(Inquiry.kind),
}


class Tally(NamedTuple):
    """The six counts of a set of inquiries, in the order of ingest/dashboard/figures.py's Counts."""

    open: int
    overdue: int
    received: int
    answered: int
    answered_on_time: int
    missed: int


@dataclass(frozen=True)
class Span:
    """Inquiries received in [start, end) (aware moments); open and overdue are counted at ``now``."""

    start: datetime
    end: datetime
    now: datetime


@dataclass(frozen=True)
class _Conditions:
    is_open: ColumnElement[bool]
    overdue: ColumnElement[bool]
    received: ColumnElement[bool]
    answered: ColumnElement[bool]
    on_time: ColumnElement[bool]
    missed: ColumnElement[bool]

    def all(self) -> tuple[ColumnElement[bool], ...]:
        """In the order of :class:`Tally`."""
        return (self.is_open, self.overdue, self.received, self.answered, self.on_time, self.missed)


def _conditions(span: Span) -> _Conditions:
    # An inquiry merged into another is counted there: as received it would count the client's
    # one request twice. Closed, it is neither open, overdue, answered nor missed either.
    received = and_(
        col(Inquiry.received_at) >= span.start,
        col(Inquiry.received_at) < span.end,
        col(Inquiry.merged_into_id).is_(None),
    )
    # Overdue as the staff API's filter has it: the clock runs and the due time has passed.
    overdue = and_(
        col(Inquiry.status) == InquiryStatus.OPEN.value,
        col(Inquiry.due_at).is_not(None),
        col(Inquiry.due_at) < span.now,
    )
    answered = and_(received, col(Inquiry.answered_at).is_not(None))
    in_time = or_(col(Inquiry.due_at).is_(None), col(Inquiry.answered_at) <= col(Inquiry.due_at))
    return _Conditions(
        is_open=col(Inquiry.status).in_(OPEN_STATUSES),
        overdue=overdue,
        received=received,
        answered=answered,
        # A deadline missed before a reassignment gave a new one is not kept by meeting the new one.
        on_time=and_(answered, in_time, col(Inquiry.missed_due_at).is_(None)),
        missed=or_(_missed_now(received, in_time, overdue), _missed_before(received)),
    )


def _missed_now(received: ColumnElement[bool], in_time: ColumnElement[bool], overdue: ColumnElement[bool]) -> Any:
    # Answered late, or never answered and past due. One answered in time and reopened by the
    # client's "Paldies!" is answered on time, not missed as well (it may still be overdue now).
    return and_(
        received,
        or_(
            and_(col(Inquiry.answered_at).is_not(None), not_(in_time)),
            and_(col(Inquiry.answered_at).is_(None), overdue),
        ),
    )


def _missed_before(received: ColumnElement[bool]) -> Any:
    """Overdue when reassigned (ingest/inquiries/reassign.py): the deadline that passed, missed."""
    return and_(received, col(Inquiry.missed_due_at).is_not(None))


def _visible(where: ColumnElement[bool] | None) -> ColumnElement[bool]:
    return where if where is not None else true()


def _sum(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _count_columns(c: _Conditions) -> list[Any]:
    return [_sum(cond) for cond in c.all()]


def _tally(values: Sequence[Any]) -> Tally:
    return Tally(*(int(v or 0) for v in values))


def total_tally(session: Session, *, span: Span, where: ColumnElement[bool] | None = None) -> Tally:
    """The counts over the inquiries open now or received in the span."""
    c = _conditions(span)
    row = session.execute(
        select(*_count_columns(c)).select_from(Inquiry).where(_visible(where), or_(c.is_open, c.received))
    ).one()
    return _tally(row)


def received_tally(session: Session, *, span: Span, where: ColumnElement[bool] | None = None) -> Tally:
    """The counts over the inquiries received in the span only (open and overdue among them too)."""
    c = _conditions(span)
    row = session.execute(select(*_count_columns(c)).select_from(Inquiry).where(_visible(where), c.received)).one()
    return _tally(row)


def tallies_by(
    session: Session, *, dimension: Dimension, span: Span, where: ColumnElement[bool] | None = None
) -> list[tuple[str | None, Tally]]:
    """(value or None, counts) per value of ``dimension``, over the inquiries open now or received in the span.

    By employee, a deadline missed before a reassignment is counted against whoever held the
    inquiry when it passed (:func:`_missed_by_earlier_holders`), the rest against its holder now.
    """
    key = _DIMENSION_COLUMNS[dimension]
    c = _conditions(span)
    if dimension == "employee":
        in_time = or_(col(Inquiry.due_at).is_(None), col(Inquiry.answered_at) <= col(Inquiry.due_at))
        own_before = and_(_missed_before(c.received), col(Inquiry.missed_by_id) == col(Inquiry.employee_id))
        c = replace(c, missed=or_(_missed_now(c.received, in_time, c.overdue), own_before))
    rows = session.execute(
        select(key.label("k"), *_count_columns(c))
        .select_from(Inquiry)
        .outerjoin(Employee, col(Employee.id) == col(Inquiry.employee_id))
        # Only rows that count somewhere: open now, or received in the period.
        .where(_visible(where), or_(c.is_open, c.received))
        .group_by(key)
    ).all()
    tallies = {(str(r[0]) if r[0] is not None else None): _tally(r[1:]) for r in rows}
    if dimension == "employee":
        for holder, missed in _missed_by_earlier_holders(session, span=span, where=where):
            tally = tallies.get(holder, Tally(0, 0, 0, 0, 0, 0))
            tallies[holder] = tally._replace(missed=tally.missed + missed)
    return list(tallies.items())


def _missed_by_earlier_holders(
    session: Session, *, span: Span, where: ColumnElement[bool] | None
) -> list[tuple[str | None, int]]:
    """(employee key or None, how many) of the deadlines missed by someone other than the inquiry's
    holder now, who was given a new one when it was reassigned."""
    c = _conditions(span)
    rows = session.execute(
        select(col(Employee.key), func.count())
        .select_from(Inquiry)
        .outerjoin(Employee, col(Employee.id) == col(Inquiry.missed_by_id))
        .where(
            _visible(where),
            _missed_before(c.received),
            col(Inquiry.missed_by_id).is_distinct_from(col(Inquiry.employee_id)),
        )
        .group_by(col(Employee.key))
    ).all()
    return [(str(k) if k is not None else None, int(n)) for k, n in rows]


def received_of_kinds(
    session: Session,
    *,
    span: Span,
    kinds: Sequence[str],
    where: ColumnElement[bool] | None = None,
    limit: int | None = None,
) -> list[tuple[Inquiry, str | None, Tally]]:
    """The inquiries of these kinds received in the span, oldest first, each with its employee's key
    and its own counts (each 0 or 1)."""
    c = _conditions(span)
    flags = [case((cond, 1), else_=0) for cond in c.all()]
    query = (
        select(Inquiry, col(Employee.key), *flags)
        .outerjoin(Employee, col(Employee.id) == col(Inquiry.employee_id))
        .where(_visible(where), c.received, col(Inquiry.kind).in_(kinds))
        .order_by(col(Inquiry.received_at), col(Inquiry.id))
    )
    if limit is not None:
        query = query.limit(limit)
    return [(inquiry, key, _tally(values)) for inquiry, key, *values in session.execute(query).all()]


def open_due_before(
    session: Session, *, end: datetime, where: ColumnElement[bool] | None = None, limit: int
) -> list[tuple[Inquiry, str | None]]:
    """Open inquiries (the clock running) due before ``end``, oldest due first, with their employee's key."""
    rows = session.execute(
        select(Inquiry, col(Employee.key))
        .outerjoin(Employee, col(Employee.id) == col(Inquiry.employee_id))
        .where(
            _visible(where),
            col(Inquiry.status) == InquiryStatus.OPEN.value,
            col(Inquiry.due_at).is_not(None),
            col(Inquiry.due_at) < end,
        )
        .order_by(col(Inquiry.due_at), col(Inquiry.id))
        .limit(limit)
    ).all()
    return [(inquiry, key) for inquiry, key in rows]


FIGURES = ("open", "overdue", "received", "answered", "on_time", "missed")


def figure_condition(figure: str, span: Span) -> ColumnElement[bool]:
    """The inquiries a figure of the office counts, as a filter: the list a figure links to shows
    exactly the inquiries it counted. ValueError for an unknown figure."""
    c = _conditions(span)
    by_name = dict(zip(FIGURES, c.all(), strict=True))
    if figure not in by_name:
        raise ValueError(f"no figure {figure!r}")
    return by_name[figure]
