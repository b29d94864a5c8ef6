"""Working time: which days are worked, when, and when an answer is due.

Latvian public holidays, the days off the Cabinet moves, and the Saturdays
worked in exchange come from the ``holidays`` package
(``country_holidays("LV")``: its entries and ``weekend_workdays``). Hours per
weekday come from the config. The working day before a public holiday is one
hour shorter (Labour Law, section 134). Everything is computed in the office's
time zone (Europe/Riga), so daylight-saving changes fall where they should.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

# Entries of the holidays package that are days off moved by the Cabinet, not public holidays:
# the day before them is not shortened.
_SUBSTITUTED = "substituted"


@dataclass(frozen=True)
class Hours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> Hours:
        """``"08:00-17:00"``."""
        first, _, second = text.partition("-")
        start, end = time.fromisoformat(first.strip()), time.fromisoformat(second.strip())
        if not start < end:
            raise ValueError(f"{text!r}: the end must come after the start")
        return cls(start, end)


@dataclass
class WorkingCalendar:
    tz: ZoneInfo
    # ISO weekday (1 = Monday) -> hours; weekdays not listed are not worked.
    hours: Mapping[int, Hours] = field(default_factory=lambda: {d: Hours(time(8), time(17)) for d in (1, 2, 3, 4, 5)})
    # Hours on a weekend day worked in exchange for a day off.
    transferred_workday_hours: Hours = field(default_factory=lambda: Hours(time(8), time(17)))
    pre_holiday_shortening: timedelta = timedelta(hours=1)
    country: str = "LV"
    _holidays: holidays.HolidayBase = field(init=False, repr=False)
    # hours_on per day: scheduling one inquiry's alarms asks about the same few weeks ~40 times.
    _hours: dict[date, Hours | None] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._holidays = holidays.country_holidays(self.country)

    # -- days --------------------------------------------------------------------------------

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def is_public_holiday(self, day: date) -> bool:
        name = self._holidays.get(day)
        return name is not None and _SUBSTITUTED not in name.lower()

    def is_transferred_workday(self, day: date) -> bool:
        self._holidays.get(day)  # makes the package populate that year
        return day in self._holidays.weekend_workdays

    def hours_on(self, day: date) -> Hours | None:
        """The working hours of ``day`` (local), or None if it is not a working day."""
        if day not in self._hours:
            self._hours[day] = self._hours_on(day)
        return self._hours[day]

    def _hours_on(self, day: date) -> Hours | None:
        if day in self._holidays:
            return None
        if self.is_transferred_workday(day):
            base = self.transferred_workday_hours
        else:
            found = self.hours.get(day.isoweekday())
            if found is None:
                return None
            base = found
        if self.is_public_holiday(day + timedelta(days=1)):
            shortened = (datetime.combine(day, base.end) - self.pre_holiday_shortening).time()
            if shortened > base.start:
                return Hours(base.start, shortened)
        return base

    def is_working_day(self, day: date) -> bool:
        return self.hours_on(day) is not None

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        current = day + timedelta(days=1)
        for _ in range(366):
            if self.is_working_day(current):
                return current
            current += timedelta(days=1)
        raise ValueError("no working day within a year: check the working-time configuration")

    def working_days_after(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself not counted)."""
        current = day
        for _ in range(count):
            current = self.next_working_day(current)
        return current

    # -- moments -----------------------------------------------------------------------------

    def _at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self.tz)

    def start_of_counting(self, received_at: datetime) -> datetime:
        """When a message counts as received: itself in working hours, else the next opening."""
        local = received_at.astimezone(self.tz)
        today = self.hours_on(local.date())
        if today is not None:
            if local.time() < today.start:
                return self._at(local.date(), today.start)
            if local.time() < today.end:
                return local
        day = self.next_working_day(local.date())
        hours = self.hours_on(day)
        assert hours is not None
        return self._at(day, hours.start)

    def due_at(self, received_at: datetime, working_days: int) -> datetime:
        """End of the ``working_days``-th working day after the day the message counts from (UTC)."""
        counted = self.start_of_counting(received_at)
        due_day = self.working_days_after(counted.date(), working_days)
        hours = self.hours_on(due_day)
        assert hours is not None
        return self._at(due_day, hours.end).astimezone(UTC)

    def working_periods(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals between two moments, in local time."""
        local_start, local_end = start.astimezone(self.tz), end.astimezone(self.tz)
        day = local_start.date()
        while day <= local_end.date():
            hours = self.hours_on(day)
            if hours is not None:
                open_, close = self._at(day, hours.start), self._at(day, hours.end)
                lo, hi = max(open_, local_start), min(close, local_end)
                if lo < hi:
                    yield lo, hi
            day += timedelta(days=1)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return timedelta(0)
        return sum((hi - lo for lo, hi in self.working_periods(start, end)), timedelta(0))

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The moment when ``amount`` of working time has passed after ``start`` (UTC)."""
        moment = self.start_of_counting(start)
        remaining = amount
        for _ in range(3660):
            hours = self.hours_on(moment.date())
            assert hours is not None
            close = self._at(moment.date(), hours.end)
            if moment + remaining <= close:
                return (moment + remaining).astimezone(UTC)
            remaining -= close - moment
            day = self.next_working_day(moment.date())
            next_hours = self.hours_on(day)
            assert next_hours is not None
            moment = self._at(day, next_hours.start)
        raise ValueError("working time to add is too large")

    def explain_due(self, received_at: datetime, working_days: int) -> dict[str, object]:
        """How a due date was computed, for ``ingest explain`` and the routing event."""
        counted = self.start_of_counting(received_at)
        due = self.due_at(received_at, working_days)
        skipped = [
            {"date": d.isoformat(), "why": reason}
            for d, reason in self.non_working_days(counted.date(), due.astimezone(self.tz).date())
        ]
        return {
            "received_at": received_at.astimezone(self.tz).isoformat(),
            "counted_from": counted.isoformat(),
            "working_days": working_days,
            "skipped": skipped,
            "due_at": due.astimezone(self.tz).isoformat(),
        }

    def non_working_days(self, start: date, end: date) -> Iterator[tuple[date, str]]:
        """Days between start and end (exclusive) that are not worked, with the reason."""
        current = start + timedelta(days=1)
        while current < end:
            if not self.is_working_day(current):
                yield current, self.holiday_name(current) or "weekend"
            current += timedelta(days=1)
