"""When the deadline of an inquiry calls for a message: the alarm times, computed once.

- ``share_left``: a reminder to the employee when that share of the working time
  between receipt and due date is left;
- ``due_day``: a reminder when the due day opens;
- ``overdue``: escalation to the employee's supervisor when the deadline passes;
- ``overdue_board``: escalation to the board member after a further stretch of
  working time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from router.calendar import WorkingCalendar


@dataclass(frozen=True)
class DeadlinePolicy:
    reminder_share_left: float = 0.25
    board_after: timedelta = timedelta(hours=8)
    # A reassigned overdue inquiry is due again this many working days on, at the day's end.
    reassigned_overdue_days: int = 1


def alarm_times(
    calendar: WorkingCalendar, *, counted_from: datetime, due_at: datetime, policy: DeadlinePolicy
) -> list[tuple[str, datetime]]:
    """(kind, fire time in UTC), in time order."""
    alarms: list[tuple[str, datetime]] = []
    total = calendar.working_time_between(counted_from, due_at)
    if 0 < policy.reminder_share_left < 1 and total > timedelta(0):
        alarms.append(("share_left", calendar.add_working_time(counted_from, total * (1 - policy.reminder_share_left))))
    due_local = due_at.astimezone(calendar.tz)
    hours = calendar.hours_on(due_local.date())
    if hours is not None:
        opening = datetime.combine(due_local.date(), hours.start, tzinfo=calendar.tz).astimezone(UTC)
        if opening > counted_from:
            alarms.append(("due_day", opening))
    alarms.append(("overdue", due_at.astimezone(UTC)))
    alarms.append(("overdue_board", calendar.add_working_time(due_at, policy.board_after)))
    return sorted(alarms, key=lambda a: a[1])
