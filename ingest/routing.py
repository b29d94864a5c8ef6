"""Building the router from the configuration (kept here so router/ does not depend on ingest/)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.config import WEEKDAYS, Settings
from router.calendar import Hours, WorkingCalendar
from router.route import Router, StaffMember
from router.understand import ComplexitySignals, Topic, Understander


def calendar_from_settings(settings: Settings) -> WorkingCalendar:
    wt = settings.working_time
    return WorkingCalendar(
        tz=ZoneInfo(settings.service.timezone),
        hours={WEEKDAYS.index(day) + 1: Hours.parse(span) for day, span in wt.hours.items()},
        transferred_workday_hours=Hours.parse(wt.transferred_workday_hours),
        pre_holiday_shortening=timedelta(minutes=wt.pre_holiday_shortening_minutes),
    )


def lexicon_dir(settings: Settings) -> Path:
    """Where the router keeps its keyword lexicon between starts (router/lexicon.py)."""
    return settings.service.data_dir / "router"


def router_from_settings(settings: Settings, *, lexicon_folder: Path | None = None, cached: bool = True) -> Router:
    """The router; its keyword lexicon read from ``lexicon_folder`` (by default the data folder's
    ``router/``) or built there once; ``cached=False`` builds it in memory only."""
    topics = tuple(
        Topic(
            key=t.key,
            name=t.name,
            keywords=tuple(t.keywords),
            employees=tuple(t.employees),
            complexity=t.complexity,
            role=t.role,
        )
        for t in settings.topics
    )
    c = settings.complexity
    understander = Understander(
        topics=topics,
        kinds=settings.kinds.model_dump(),
        signals=ComplexitySignals(
            long_text_chars=c.long_text_chars,
            attachments_make_complex=c.attachments_make_complex,
            several_topics_make_complex=c.several_topics_make_complex,
        ),
        lexicon_dir=(lexicon_folder or lexicon_dir(settings)) if cached else None,
    )
    staff = {
        e.key: StaffMember(
            key=e.key, name=e.name, surname=e.surname, languages=tuple(e.languages), deputy=e.deputy, active=e.active
        )
        for e in settings.employees
    }
    wt = settings.working_time
    return Router(
        understander=understander,
        staff=staff,
        fallback_employee=settings.routing.fallback_employee,
        board_member=settings.routing.board_member,
        calendar=calendar_from_settings(settings),
        working_days={"simple": wt.simple_working_days, "complex": wt.complex_working_days},
    )
