"""A missed call from a client with an open inquiry: a "call back" task on that inquiry.

Policy 6.3 asks that a missed call be returned; the client's matter already has a responsible
employee, so the task goes to them (not to the coordinator as a new inquiry): a ``call_back_task``
event, a staff e-mail "call the client back" and a reminder queued for later
(:data:`REMINDER_AFTER` of working time), which the outbox sends when its time comes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from ingest.i18n import N_
from ingest.outgoing.notices import Notices
from ingest.outgoing.staff_mail import local_time
from router.calendar import WorkingCalendar
from storage import repo
from storage.models import Employee, Inquiry, Message

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
