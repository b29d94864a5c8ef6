"""Building the router from the configuration (kept here so router/ does not depend on ingest/)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ingest.config import Settings
from router.calendar import WorkingCalendar
from router.route import Router
from router.topics import Topic


def calendar_from_settings(settings: Settings) -> WorkingCalendar:
    wt = settings.working_time
    return WorkingCalendar(tz=ZoneInfo(settings.service.timezone), day_end=wt.day_end, weekdays=frozenset(wt.weekdays))


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
