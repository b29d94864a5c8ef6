"""An inquiry's clock: the deadline's alarms set with the due date (and cancelled with the
answer), and the clock that stops while an inquiry waits for the client (policy 10.1).

The alarms are fired by the scheduled sweep in ingest/inquiries/scheduled.py.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session

from router.calendar import WorkingCalendar
from router.deadlines import DeadlinePolicy, alarm_times
from storage import alarm_repo, repo
from storage.actors import Actor
from storage.models import (
    DeadlineAlarm,
    Inquiry,
    InquiryStatus,
)

log = logging.getLogger(__name__)

# In the order the alarms come (router/deadlines.py); ``late`` is set instead of all of them.
ALARM_SEVERITY = {"share_left": 1, "due_day": 2, "late": 3, "overdue": 4, "overdue_board": 5}


def schedule_alarms(
    session: Session,
    *,
    inquiry: Inquiry,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    counted_from: datetime,
    now: datetime,
    fresh: bool = False,
) -> None:
    """Replace the inquiry's unfired alarms with those for its current due date (``fresh``: a new
    inquiry, which has none yet); none of them in the past (:func:`settle_past`)."""
    assert inquiry.id is not None
    if not fresh:
        alarm_repo.drop_pending_alarms(session, inquiry_id=inquiry.id)
    if inquiry.due_at is None:
        return
    times = alarm_times(calendar, counted_from=counted_from, due_at=inquiry.due_at, policy=policy)
    times = settle_past(times, now=now)
    rows = [{"inquiry_id": inquiry.id, "kind": kind, "fire_at": fire_at} for kind, fire_at in times]
    if rows:  # one multi-row INSERT through Core: nothing reads the new alarms' ids
        session.connection().execute(insert(DeadlineAlarm.__table__), rows)  # type: ignore[attr-defined]


def settle_past(times: list[tuple[str, datetime]], *, now: datetime) -> list[tuple[str, datetime]]:
    """The alarms as they may be set at ``now``: none of them for a moment already gone.

    An inquiry that is late when its deadline is set (a visit logged days afterwards, a backlog
    read after an outage) gets one ``late`` notice to its employee and nothing more: the reminders
    would announce a due day already gone, and escalating at once would report to the supervisor
    and the board a deadline the employee never had a chance to keep. Reminders whose moment has
    passed while the deadline is still ahead collapse into the most urgent one, sent now.
    """
    past = [kind for kind, at in times if at <= now]
    if not past:
        return times
    if "overdue" in past:
        return [("late", now)]
    upcoming = [(kind, at) for kind, at in times if at > now]
    return [(max(past, key=severity), now), *upcoming]


def severity(kind: str) -> int:
    """How urgent an alarm kind is: of several due at once, only the most urgent is sent."""
    return ALARM_SEVERITY.get(kind, 0)


def cancel_alarms(session: Session, *, inquiry_id: int) -> None:
    """The inquiry is answered or closed: nothing more to remind of."""
    alarm_repo.drop_pending_alarms(session, inquiry_id=inquiry_id)


def pause_clock(session: Session, *, inquiry: Inquiry, actor: Actor, now: datetime) -> None:
    """The inquiry waits for the client: no reminders, the deadline stands still."""
    assert inquiry.id is not None
    inquiry.status = InquiryStatus.WAITING_CLIENT.value
    inquiry.clock_paused_at = now
    inquiry.updated_at = now
    session.add(inquiry)
    cancel_alarms(session, inquiry_id=inquiry.id)
    repo.add_event(session, inquiry_id=inquiry.id, type="waiting_for_client", at=now, actor=actor)


def resume_clock(
    session: Session, *, inquiry: Inquiry, calendar: WorkingCalendar, policy: DeadlinePolicy, now: datetime
) -> None:
    """The client answered: the working time that was left when the clock stopped is left again."""
    assert inquiry.id is not None
    paused_at = inquiry.clock_paused_at or now
    old_due = inquiry.due_at
    restart = calendar.start_of_counting(now)
    if old_due is not None:
        remaining = calendar.working_time_between(paused_at, old_due)
        inquiry.due_at = calendar.add_working_time(restart, remaining) if remaining else old_due
    inquiry.status = InquiryStatus.OPEN.value
    inquiry.clock_paused_at = None
    inquiry.updated_at = now
    session.add(inquiry)
    repo.add_event(
        session,
        inquiry_id=inquiry.id,
        type="clock_resumed",
        at=now,
        data={
            "paused_at": paused_at.isoformat(),
            "old_due_at": old_due.isoformat() if old_due else None,
            "due_at": inquiry.due_at.isoformat() if inquiry.due_at else None,
        },
    )
    schedule_alarms(session, inquiry=inquiry, calendar=calendar, policy=policy, counted_from=restart, now=now)
