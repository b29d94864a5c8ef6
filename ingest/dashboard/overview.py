"""The dashboard's overview (``/dashboard?from=YYYY-MM-DD&to=YYYY-MM-DD``): the office's figures.

Who sees what is decided by ingest/inquiries/access.py, as in the staff API; the figures come
from ingest/dashboard/figures.py, as those of ``ingest report``. Showing clients' subjects is a
read of personal data: it writes an audit row with the references shown.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition time.

from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ingest.dashboard.charts import on_time_chart
from ingest.dashboard.deps import (
    VIA,
    Dashboard,
    DashboardOptions,
    page,
    problem,
    staff_viewer,
)
from ingest.dashboard.figures import NOBODY, Period, due_today, last_weeks, office_figures
from ingest.dashboard.labels import N_
from ingest.dashboard.web import DashboardRoute
from ingest.inquiries import audit
from ingest.inquiries.access import visible
from storage import figures_repo
from storage.db import transaction
from storage.staff_models import Role

FEEDBACK_LIMIT = 200

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


def figure_link(period: Period, section: str, key: str, figure: str) -> str | None:
    """The inquiry list that a figure of the overview counts; None where the list cannot say it."""
    if key == NOBODY or figure not in figures_repo.FIGURES:
        return None
    first, last = period.first, period.last
    params = {"figure": figure, "from": first.isoformat(), "to": last.isoformat(), "employee": ""}
    if section == "week":
        year, week = key.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        params["from"] = max(first, monday).isoformat()
        params["to"] = min(last, monday + timedelta(days=6)).isoformat()
    elif section in ("employee", "channel", "topic", "kind"):
        params[section] = key
    return "/dashboard/inquiries?" + urlencode(params)


def period_of(first: str | None, last: str | None, *, today: date, options: DashboardOptions) -> Period:
    """The period asked for, or the default weeks up to today; ValueError if a day is not valid."""
    if first or last:
        return Period(date.fromisoformat(first or ""), date.fromisoformat(last or ""))
    return last_weeks(today, options.weeks)


@router.get("")
def overview(
    request: Request,
    dash: Dashboard,
    first: str | None = Query(default=None, alias="from", max_length=10),
    last: str | None = Query(default=None, alias="to", max_length=10),
) -> Response:
    ctx = dash.ctx
    now = ctx.clock()
    today = now.astimezone(ctx.tz).date()
    with transaction(ctx.sessions) as session:
        user = staff_viewer(dash, request, session)
        if isinstance(user, Response):
            return user
        try:
            period = period_of(first, last, today=today, options=dash.options)
        except ValueError as exc:
            return problem(
                dash, 400, N_("The period is not valid: %(error)s. Use from=YYYY-MM-DD&to=YYYY-MM-DD."), user, error=exc
            )
        where = visible(user.principal, session.get_bind().dialect.name)
        figures = office_figures(
            session, period=period, now=now, tz=ctx.tz, where=where, topic_names=dict(ctx.notices.topic_names),
            feedback_limit=FEEDBACK_LIMIT,
        )  # fmt: skip
        due = due_today(session, now=now, tz=ctx.tz, where=where)
        # Subjects of clients' inquiries are shown: a read of personal data, with what was shown.
        shown = sorted({d.reference for d in due} | {f.reference for f in figures.feedback})
        audit.record(session, principal=user.principal, action="dashboard.overview", now=now,
                     detail={**VIA, "period": period.label, "references": shown})  # fmt: skip
    return page(
        dash, "overview.html", user=user, figures=figures, due=due, chart=on_time_chart(figures.weeks),
        figure_link=lambda section, key, figure: figure_link(period, section, key, figure),
        today=today, working_day=ctx.calendar.is_working_day(today), csrf=user.session.csrf_token,
        sees_complaints=user.principal.role == Role.BOARD, feedback_limit=FEEDBACK_LIMIT,
    )  # fmt: skip
