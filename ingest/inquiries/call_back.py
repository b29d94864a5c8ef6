"""A missed call from a client with an open inquiry: a "call back" task on that inquiry.

Policy 6.3 asks that a missed call be returned; the client's matter already has a responsible
employee, so the task goes to them (not to the coordinator as a new inquiry): a ``call_back_task``
event, a staff e-mail "call the client back" and a reminder queued for later
(:data:`REMINDER_AFTER` of working time), which the outbox sends when its time comes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from ingest.outgoing.notices import Notices
from ingest.outgoing.staff_mail import StaffNotice, local_time
from router.calendar import WorkingCalendar
from storage import repo
from storage.models import Employee, Inquiry, Message

# A call back is owed sooner than an answer: the employee is reminded within the same morning or
# afternoon, well before the inquiry's own deadline.
REMINDER_AFTER = timedelta(hours=2)


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
    for notice, kind, at in (
        (call_back_notice(inquiry, message.sender, called, notices, employee), "staff_call_back", now),
        (call_back_reminder(inquiry, message.sender, called, notices, employee), "staff_call_back_reminder", remind_at),
    ):
        row = notices.staff_message(session, kind=kind, inquiry=inquiry, employee=employee,
                                    subject=notice.subject, text=notice.text, now=now)  # fmt: skip
        row.next_attempt_at = at  # the reminder waits in the outbox until its time


def call_back_notice(
    inquiry: Inquiry, caller: str | None, called: str, notices: Notices, employee: Employee
) -> StaffNotice:
    _ = notices.translations_for(employee).gettext
    values = {"reference": inquiry.reference, "phone": caller or "—", "time": called}
    return StaffNotice(
        subject=_("[%(reference)s] Call the client back") % values,
        text=_(
            "The client of inquiry %(reference)s called from %(phone)s at %(time)s and nobody answered."
            " Please call the client back and log the call."
        ) % values + "\n",
    )  # fmt: skip


def call_back_reminder(
    inquiry: Inquiry, caller: str | None, called: str, notices: Notices, employee: Employee
) -> StaffNotice:
    _ = notices.translations_for(employee).gettext
    values = {"reference": inquiry.reference, "phone": caller or "—", "time": called}
    return StaffNotice(
        subject=_("[%(reference)s] Reminder: call the client back") % values,
        text=_(
            "The client of inquiry %(reference)s called from %(phone)s at %(time)s and is waiting for a call"
            " back. If you have called, log the call."
        ) % values + "\n",
    )  # fmt: skip
