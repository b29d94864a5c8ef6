"""Building the router from the configuration (kept here so router/ does not depend on ingest/)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from ingest.config import WEEKDAYS, Settings
from router.calendar import Hours, WorkingCalendar
from router.route import Router
from router.topics import Topic


def calendar_from_settings(settings: Settings) -> WorkingCalendar:
    wt = settings.working_time
    return WorkingCalendar(
        tz=ZoneInfo(settings.service.timezone),
        hours={WEEKDAYS.index(day) + 1: Hours.parse(span) for day, span in wt.hours.items()},
        transferred_workday_hours=Hours.parse(wt.transferred_workday_hours),
        pre_holiday_shortening=timedelta(minutes=wt.pre_holiday_shortening_minutes),
    )


def router_from_settings(settings: Settings) -> Router:
    topics = tuple(
        Topic(key=t.key, name=t.name, keywords=tuple(t.keywords), employees=tuple(t.employees), complexity=t.complexity)
        for t in settings.topics
    )
    wt = settings.working_time
    return Router(
        topics=topics,
        fallback_employee=settings.routing.fallback_employee,
        active_employees=frozenset(e.key for e in settings.employees if e.active),
        calendar=calendar_from_settings(settings),
        working_days={"simple": wt.simple_working_days, "complex": wt.complex_working_days},
    )
