"""Working time: which days are working days, and when an answer is due.

Latvian public holidays (and the days off the Cabinet substitutes for them)
come from the ``holidays`` package; weekdays and the end of the working day
come from the config.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays


@dataclass
class WorkingCalendar:
    tz: ZoneInfo
    day_end: time = time(17, 0)
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    country: str = "LV"
    _holidays: holidays.HolidayBase = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._holidays = holidays.country_holidays(self.country)

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def is_working_day(self, day: date) -> bool:
        return day.isoweekday() in self.weekdays and day not in self._holidays

    def working_days_after(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself not counted)."""
        current = day
        remaining = count
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def due_at(self, received_at: datetime, working_days: int) -> datetime:
        """End of the ``working_days``-th working day after the day of receipt, in UTC.

        Counting starts the day after receipt, so an inquiry received on any day
        (working or not, in hours or after them) is due at the end of the Nth
        following working day.
        """
        local = received_at.astimezone(self.tz)
        due_day = self.working_days_after(local.date(), working_days)
        return datetime.combine(due_day, self.day_end, tzinfo=self.tz).astimezone(timezone.utc)

    def skipped_days(self, start: date, end: date) -> Iterable[tuple[date, str]]:
        """Non-working days between start and end (exclusive), with the reason; for explanations."""
        current = start + timedelta(days=1)
        while current < end:
            if not self.is_working_day(current):
                yield current, self.holiday_name(current) or "weekend"
            current += timedelta(days=1)
