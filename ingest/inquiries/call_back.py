"""A missed call from a client with an open inquiry: a "call back" task on that inquiry.

Policy 6.3 asks that a missed call be returned; the client's matter already has a responsible
employee, so the task goes to them (not to the coordinator as a new inquiry): a ``call_back_task``
event, a staff e-mail "call the client back" and a reminder queued for later
(:data:`REMINDER_AFTER` of working time), which the outbox sends when its time comes.

The task is settled when it is no longer owed (:func:`settle`): staff logged a call with the client
on the inquiry (``call_back_done``), or the inquiry was answered or closed (``call_back_cancelled``).
Its reminder, if still waiting, is then cancelled and never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from ingest.i18n import N_
from ingest.outgoing.notices import Notices
from ingest.outgoing.staff_mail import local_time
from router.calendar import WorkingCalendar
from storage import call_back_repo, repo
from storage.actors import Actor
from storage.models import Employee, Event, Inquiry, Message

# The task's e-mail now, and the reminder later: (outbox kind, subject, text).
TEXTS = (
    ("staff_call_back", N_("[%(reference)s] Call the client back"),
     N_("The client of inquiry %(reference)s called from %(phone)s at %(time)s and nobody answered."
        " Please call the client back and log the call.")),
    ("staff_call_back_reminder", N_("[%(reference)s] Reminder: call the client back"),
     N_("The client of inquiry %(reference)s called from %(phone)s at %(time)s and is waiting for a call"
        " back. If you have called, log the call.")),
)  # fmt: skip
# A call back is owed sooner than an answer: the employee is reminded within the same morning or
# afternoon, well before the inquiry's own deadline.
REMINDER_AFTER = timedelta(hours=2)
# Why a task is no longer owed: the event recorded for each reason.
SETTLED_BY = {"call_logged": call_back_repo.DONE, "answered": call_back_repo.CANCELLED,
              "closed": call_back_repo.CANCELLED}  # fmt: skip


def call_back_task(
    session: Session,
    *,
    notices: Notices,
    calendar: WorkingCalendar,
    inquiry: Inquiry,
    message: Message,
    employee: Employee,
    now: datetime,
) -> None:
    """The task recorded on the inquiry, the employee told now and reminded later."""
    assert inquiry.id is not None
    remind_at = calendar.add_working_time(now, REMINDER_AFTER)
    repo.add_event(session, inquiry_id=inquiry.id, type="call_back_task", at=now, data={
        "message_id": message.id, "employee": employee.key, "caller": message.sender,
        "remind_at": remind_at.isoformat(),
    })  # fmt: skip
    called = local_time(message.received_at, notices.tz)
    translations = notices.translations_for(employee)
    for (kind, subject, text), at in zip(TEXTS, (now, remind_at), strict=True):
        values = {"reference": inquiry.reference, "phone": message.sender or "—", "time": called}
        row = notices.staff_message(session, kind=kind, inquiry=inquiry, employee=employee,
                                    subject=translations.gettext(subject) % values,
                                    text=translations.gettext(text) % values + "\n", now=now)  # fmt: skip
        row.next_attempt_at = at  # the reminder waits in the outbox until its time


@dataclass(frozen=True)
class Settled:
    tasks: list[int]  # the ``call_back_task`` events settled
    cancelled: list[int]  # the reminders' outbox rows cancelled before they were sent


def open_tasks(events: list[Event]) -> list[int]:
    """The ids of the task events that no later event settled."""
    settled = {int(t) for e in events if e.type in call_back_repo.SETTLED for t in e.data.get("tasks", [])}
    return [e.id for e in events if e.type == call_back_repo.TASK and e.id is not None and e.id not in settled]


def settle(
    session: Session, *, inquiry_id: int, reason: str, actor: Actor, now: datetime, message_id: int | None = None
) -> Settled | None:
    """The inquiry's open call-back tasks settled for ``reason`` (:data:`SETTLED_BY`): their
    reminders still waiting are cancelled, and one event says why. None when no task was open.

    The inquiry's row is locked first, so that an answer and a logged call at the same time settle
    a task once: the second waits for the first and then finds it settled."""
    call_back_repo.lock_inquiry(session, inquiry_id=inquiry_id)
    events = call_back_repo.task_events(session, inquiry_id=inquiry_id)
    tasks = open_tasks(events)
    if not tasks:
        return None
    # Every reminder of the inquiry is asked for: those of tasks settled before are no longer waiting.
    reminders = [int(e.data["outbox_id"]) for e in events
                 if e.type == call_back_repo.REMINDER_QUEUED and e.data.get("outbox_id") is not None]  # fmt: skip
    cancelled = call_back_repo.cancel_reminders(session, outbox_ids=reminders)
    repo.add_event(session, inquiry_id=inquiry_id, type=SETTLED_BY[reason], at=now, actor=actor, data={
        "reason": reason, "tasks": tasks, "cancelled_outbox_ids": cancelled, "message_id": message_id,
    })  # fmt: skip
    return Settled(tasks=tasks, cancelled=cancelled)
