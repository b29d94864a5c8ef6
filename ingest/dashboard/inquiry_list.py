"""The inquiry list (``/dashboard/inquiries``): filtered, the earliest due first, in pages.

"Mine" by default for an employee (``employee=`` empty shows all they may see); everything
visible for a supervisor and the board. The filters are query parameters, so every figure of
the overview links to the list it counts (``figure=missed&from=…&to=…``, with the very SQL
condition that counted it). Who sees what is ingest/inquiries/access.py, as everywhere; the list
shows clients' names and subjects, so it writes an audit row with the references shown.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement
from sqlmodel import col

from ingest.api.shapes import summaries
from ingest.dashboard.deps import (
    VIA,
    Dashboard,
    User,
    employee_names,
    page,
    problem,
    staff_viewer,
)  # fmt: skip
from ingest.dashboard.figures import Period
from ingest.dashboard.labels import N_
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit
from ingest.inquiries.access import visible
from ingest.inquiries.search import InquiryFilters, conditions, prepare
from storage import figures_repo, inquiry_repo
from storage.db import transaction
from storage.models import OPEN_STATUSES, Inquiry, InquiryStatus, Kind
from storage.staff_models import Role

PAGE_SIZE = 50
STATUSES = tuple(s.value for s in InquiryStatus)
UNANSWERED = "unanswered"  # open or waiting for the client: what the overview counts as open
CHANNELS = ("email", "whatsapp", "sms", "phone", "visit")

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@dataclass(frozen=True)
class ListQuery:
    """The list's query parameters as given (strings), so the page can repeat them in its links."""

    status: str = ""
    employee: str | None = None  # None: not given (an employee then sees their own)
    channel: str = ""
    topic: str = ""
    kind: str = ""
    overdue: str = ""
    due: str = ""
    q: str = ""
    first: str = ""
    last: str = ""
    figure: str = ""
    page: int = 1

    def link(self, **changes: Any) -> str:
        """This list with some parameters changed, as a URL."""
        chosen = replace(self, **changes)
        params = {
            "status": chosen.status, "employee": chosen.employee, "channel": chosen.channel,
            "topic": chosen.topic, "kind": chosen.kind, "overdue": chosen.overdue, "due": chosen.due,
            "q": chosen.q, "from": chosen.first, "to": chosen.last, "figure": chosen.figure,
            "page": str(chosen.page) if chosen.page > 1 else "",
        }  # fmt: skip
        kept = {k: v for k, v in params.items() if v is not None and (v != "" or k == "employee")}
        return "/dashboard/inquiries" + (f"?{urlencode(kept)}" if kept else "")


def _period(query: ListQuery) -> Period | None:
    """The days asked for; ValueError if a day is not a date or one is missing."""
    if not (query.first or query.last):
        return None
    return Period(date.fromisoformat(query.first), date.fromisoformat(query.last))


def _extra_conditions(query: ListQuery, period: Period | None, *, now: datetime, dash: Any) -> list[Any]:
    """What the staff API's filters do not have: unanswered, due today, and the overview's figures."""
    tz = dash.ctx.tz
    out: list[ColumnElement[bool]] = []
    if query.status == UNANSWERED:
        out.append(col(Inquiry.status).in_(OPEN_STATUSES))
    if query.due == "today":
        end = datetime.combine(now.astimezone(tz).date(), time.max, tzinfo=tz)
        out += [col(Inquiry.status) == InquiryStatus.OPEN.value, col(Inquiry.due_at) <= end]
    if query.figure:
        days = period or Period(now.astimezone(tz).date(), now.astimezone(tz).date())
        start, end = days.bounds(tz)
        out.append(figures_repo.figure_condition(query.figure, figures_repo.Span(start=start, end=end, now=now)))
    return out


def _filters(query: ListQuery, period: Period | None, user: User) -> InquiryFilters:
    employee = query.employee
    if employee is None and user.principal.role == Role.EMPLOYEE:
        employee = user.principal.key  # "mine"
    return InquiryFilters(
        status=query.status if query.status in STATUSES else None,
        channel=query.channel or None,
        topic=query.topic or None,
        kind=query.kind or None,
        employee=employee or None,
        overdue=True if query.overdue == "1" else None,
        # A figure's period is the span it counts in, not a filter on the day received.
        received_from=period.first if period and not query.figure else None,
        received_to=period.last if period and not query.figure else None,
        q=query.q or None,
    )


def _invalid(query: ListQuery) -> str | None:
    if query.status and query.status not in (*STATUSES, UNANSWERED):
        return N_("Unknown status.")
    if query.figure and query.figure not in figures_repo.FIGURES:
        return N_("Unknown figure.")
    if query.due and query.due != "today":
        return N_("Unknown due filter.")
    return None


Text = Annotated[str, Query(max_length=64)]


@router.get("/inquiries")
def inquiry_list(
    request: Request,
    dash: Dashboard,
    status: Text = "",
    employee: str | None = Query(default=None, max_length=64),
    channel: Text = "",
    topic: Text = "",
    kind: Text = "",
    overdue: str = Query(default="", max_length=1),
    due: str = Query(default="", max_length=16),
    q: str = Query(default="", max_length=200),
    first: str = Query(default="", alias="from", max_length=10),
    last: str = Query(default="", alias="to", max_length=10),
    figure: Text = "",
    page_number: int = Query(default=1, alias="page", ge=1, le=100_000),
) -> Response:
    query = ListQuery(status, employee, channel, topic, kind, overdue, due, q.strip(), first, last, figure, page_number)
    ctx = dash.ctx
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        user = staff_viewer(dash, request, session)
        if isinstance(user, Response):
            return user
        problem_text = _invalid(query)
        try:
            period = _period(query)
        except ValueError:
            problem_text = N_("The period is not valid. Use from=YYYY-MM-DD&to=YYYY-MM-DD.")
        if problem_text is not None:
            return problem(dash, 400, problem_text, user)
        filters = _filters(query, period, user)
        dialect = prepare(session)
        where = [
            visible(user.principal, dialect),
            *conditions(filters, dialect=dialect, now=now, tz=ctx.tz),
            *_extra_conditions(query, period, now=now, dash=dash),
        ]
        offset = (query.page - 1) * PAGE_SIZE
        total, rows = inquiry_repo.inquiry_page(session, where=where, limit=PAGE_SIZE, offset=offset, by_due=True)
        items = summaries(session, rows, now)
        names = employee_names(session)
        audit.record(session, principal=user.principal, action="dashboard.list", now=now,
                     detail={**VIA, "filters": filters.used(), "references": [i.reference for i in items],
                             "total": total})  # fmt: skip
    return page(
        dash, "inquiry_list.html", user=user, items=items, total=total, query=query, filters=filters,
        pages=max(1, -(-total // PAGE_SIZE)), page_size=PAGE_SIZE, topics=dict(ctx.notices.topic_names),
        mine=query.employee is None and user.principal.role == Role.EMPLOYEE, figures=figures_repo.FIGURES,
        statuses=(*STATUSES, UNANSWERED), names=names, channels=CHANNELS, kinds=tuple(k.value for k in Kind),
    )  # fmt: skip
