"""The office's figures (policy clause 10: volumes, deadlines met and missed, per employee,
channel, topic and kind), computed once for both the dashboard and ``ingest report``.

Both call :func:`office_figures`, so the page and the CSV cannot disagree. What the
figures mean:

- ``open``: open or waiting for the client now; ``overdue``: open (the clock runs) and past
  its due time now. These two are the state at ``now``, whatever the period.
- ``received``: received in the period (office calendar days, inclusive);
  ``answered``: of those, answered; ``answered_on_time``: answered by the due time (or with
  no due time); ``missed``: answered late, or never answered and past due (one answered in
  time and reopened by the client counts as on time).
- ``share_on_time`` = answered_on_time / (answered_on_time + missed): of the deadlines
  already decided, the share kept. Inquiries still within their time, waiting for the
  client, or closed without an answer are in neither part.
- An inquiry merged into another (ingest/inquiries/merging.py) is closed and counted in none of
  them: the inquiry it was merged into counts the client's request once.

Each row is restricted by ``where``: the caller's visibility (ingest/access.py) on the
dashboard, everything for the board's report. Counting is done by the database
(``GROUP BY`` with conditional sums, storage/figures_repo.py), so it scales with the table,
not with Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from ingest.inquiries.search import FIRST_DAY, LAST_DAY
from storage import figures_repo, repo
from storage.figures_repo import Dimension, Span, Tally
from storage.models import Kind

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
        if self.first < FIRST_DAY or self.last > LAST_DAY:
            raise ValueError(f"a period lies between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")
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


# -- from the database's counts -----------------------------------------------------------------


def _span(period: Period, now: datetime, tz: ZoneInfo) -> Span:
    start, end = period.bounds(tz)
    return Span(start=start, end=end, now=now)


def _counts(tally: Tally) -> Counts:
    return Counts(**tally._asdict())


def _grouped(
    session: Session, dimension: Dimension, where: ColumnElement[bool] | None, span: Span
) -> dict[str, Counts]:
    rows = figures_repo.tallies_by(session, dimension=dimension, span=span, where=where)
    return {(key if key is not None else NOBODY): _counts(tally) for key, tally in rows}


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
    span = _span(period, now, tz)
    employees = {e.key: f"{e.name} {e.surname}".strip() or e.key for e in repo.employees_by_key(session).values()}
    total = figures_repo.total_tally(session, span=span, where=where)
    weeks = []
    for label, part in period.iso_weeks():
        # A week's row is about the inquiries received in it; open and overdue now are left at 0.
        counts = _counts(figures_repo.received_tally(session, span=_span(part, now, tz), where=where))
        weeks.append(Row(key=label, label=label, counts=Counts(0, 0, *(
            counts.received, counts.answered, counts.answered_on_time, counts.missed)))
        )  # fmt: skip
    return OfficeFigures(
        period=period,
        now=now,
        total=_counts(total),
        by_employee=_rows(_grouped(session, "employee", where, span), {**employees, NOBODY: "(nobody)"}),
        by_channel=_rows(_grouped(session, "channel", where, span), {}),
        by_topic=_rows(_grouped(session, "topic", where, span), {**(topic_names or {}), NOBODY: "(no topic)"}),
        by_kind=_rows(_grouped(session, "kind", where, span), {}),
        weeks=weeks,
        feedback=_feedback(session, where, span, limit=feedback_limit),
    )


def _feedback(
    session: Session, where: ColumnElement[bool] | None, span: Span, *, limit: int | None
) -> list[FeedbackItem]:
    rows = figures_repo.received_of_kinds(session, span=span, kinds=FEEDBACK_KINDS, where=where, limit=limit)
    out = []
    for inquiry, key, tally in rows:
        out.append(
            FeedbackItem(
                reference=inquiry.reference, kind=inquiry.kind, topic=inquiry.topic, channel=inquiry.channel,
                status=inquiry.status, employee=key or NOBODY, received_at=inquiry.received_at,
                due_at=inquiry.due_at, answered_at=inquiry.answered_at, subject=inquiry.subject, counts=_counts(tally),
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
    end_of_today = _midnight(now.astimezone(tz).date() + timedelta(days=1), tz)
    out = []
    for inquiry, key in figures_repo.open_due_before(session, end=end_of_today, where=where, limit=limit):
        assert inquiry.due_at is not None
        out.append(
            DueItem(
                reference=inquiry.reference, kind=inquiry.kind, topic=inquiry.topic, channel=inquiry.channel,
                employee=key or NOBODY, due_at=inquiry.due_at, overdue=inquiry.due_at < now, subject=inquiry.subject,
            )
        )  # fmt: skip
    return out
