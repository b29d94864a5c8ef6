"""Keeping the deadline: a sweep that fires each alarm once, and the morning digest.

Safe with several service processes on one database: an alarm is fired by a
conditional UPDATE in the same transaction as the message it queues, and a
digest by inserting a job marker, so two sweeps at the same moment send
everything once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlmodel import Session

from ingest.inquiries.clock import severity
from ingest.outgoing.notices import Notices
from ingest.outgoing.staff_texts import deadline_notice, digest_notice
from router.calendar import WorkingCalendar
from storage import alarm_repo, repo
from storage.db import SessionFactory, transaction
from storage.models import Contact, DeadlineAlarm, Employee, Inquiry, InquiryStatus

log = logging.getLogger(__name__)


@dataclass
class DeadlineKeeper:
    sessions: SessionFactory
    notices: Notices
    calendar: WorkingCalendar
    clock: Callable[[], datetime]
    fallback_employee: str
    board_member: str | None
    batch_size: int = 500
    on_outbox: Callable[[], None] = lambda: None

    def sweep(self) -> int:
        """Fire what is due and send today's digests; returns how many messages were queued."""
        queued = self._fire_due_alarms() + self._digests()
        if queued:
            self.on_outbox()
        return queued

    # -- alarms ------------------------------------------------------------------------------

    def _fire_due_alarms(self) -> int:
        now = self.clock()
        queued = 0
        while True:
            with self.sessions() as session:
                due = alarm_repo.due_alarm_inquiries(session, now=now, limit=self.batch_size)
            for inquiry_id in due:
                try:
                    queued += self._fire(inquiry_id, now)
                except Exception:  # noqa: BLE001 - one bad alarm must not stop the others
                    log.exception("deadline alarms of inquiry %s failed; they stay due", inquiry_id)
            if len(due) < self.batch_size:
                return queued

    def _fire(self, inquiry_id: int, now: datetime) -> int:
        """Send the most urgent of the inquiry's due alarms; the others are marked fired with it.

        Several are due at once only when the sweep did not run at their times (the service was
        down): the employee, the supervisor and the board would all be written to within a second,
        mostly about moments long gone, when the last of them says what is true now.
        """
        with transaction(self.sessions) as session:
            alarms = alarm_repo.due_alarms_of(session, inquiry_id=inquiry_id, now=now)
            if not alarms:
                return 0
            alarm = max(alarms, key=lambda a: (severity(a.kind), a.fire_at))
            assert alarm.id is not None
            if not alarm_repo.claim_alarm(session, alarm_id=alarm.id, now=now):
                return 0  # another process fired it
            passed: list[str] = []
            for other in alarms:
                if other is not alarm and alarm_repo.claim_alarm(session, alarm_id=other.id or 0, now=now):
                    passed.append(other.kind)
            inquiry = session.get(Inquiry, inquiry_id)
            if inquiry is None or inquiry.status != InquiryStatus.OPEN.value:
                return 0  # answered, closed or waiting: nothing to remind of
            return self._send(session, alarm, inquiry, passed, now)

    def _send(self, session: Session, alarm: DeadlineAlarm, inquiry: Inquiry, passed: list[str], now: datetime) -> int:
        employees = repo.employees_by_key(session)
        responsible = next((e for e in employees.values() if e.id == inquiry.employee_id), None)
        recipient = self._recipient(alarm.kind, responsible, employees)
        if recipient is None:
            return 0
        notice = deadline_notice(
            alarm.kind, inquiry=inquiry, responsible=responsible, contact=session.get(Contact, inquiry.contact_id),
            topic_name=self.notices.topic_names.get(inquiry.topic or "", inquiry.topic), tz=self.calendar.tz,
            translations=self.notices.translations_for(recipient),
        )  # fmt: skip
        self.notices.staff_message(
            session, kind=f"deadline_{alarm.kind}", inquiry=inquiry, employee=recipient, subject=notice.subject,
            text=notice.text, now=now,
        )  # fmt: skip
        data: dict[str, object] = {"alarm": alarm.kind, "to": recipient.key}
        if passed:
            data["passed"] = passed  # not sent: their moments went by while the sweep did not run
        repo.add_event(
            session,
            inquiry_id=inquiry.id,  # type: ignore[arg-type]
            type="escalated" if alarm.kind.startswith("overdue") else "reminded",
            at=now,
            data=data,
        )
        return 1

    def _recipient(self, kind: str, responsible: Employee | None, employees: dict[str, Employee]) -> Employee | None:
        if kind in ("share_left", "due_day", "late"):
            return responsible
        if kind == "overdue":
            key = (responsible.supervisor_key if responsible else None) or self.fallback_employee
            return employees.get(key)
        return employees.get(self.board_member or self.fallback_employee)

    # -- morning digest ----------------------------------------------------------------------

    def _digests(self) -> int:
        now = self.clock()
        local = now.astimezone(self.calendar.tz)
        hours = self.calendar.hours_on(local.date())
        if hours is None or local.time() < hours.start:
            return 0
        end_of_day = datetime.combine(local.date(), time.max, tzinfo=self.calendar.tz)
        with self.sessions() as session:
            rows = alarm_repo.open_due_by(session, end=end_of_day)
        by_employee: dict[str, list[Inquiry]] = {}
        staff: dict[str, Employee] = {}
        for inquiry, employee in rows:
            by_employee.setdefault(employee.key, []).append(inquiry)
            staff[employee.key] = employee
        queued = 0
        for key, inquiries in by_employee.items():
            queued += self._digest(staff[key], inquiries, local.date(), now)
        return queued

    def _digest(self, employee: Employee, inquiries: list[Inquiry], day: date, now: datetime) -> int:
        with transaction(self.sessions) as session:
            # The marker's key keeps the ISO day it always had, so a digest is never sent twice across an upgrade.
            if not repo.claim_marker(session, key=f"digest:{employee.key}:{day.isoformat()}", now=now):
                return 0
            notice = digest_notice(inquiries, day=day, now=now, tz=self.calendar.tz,
                                   translations=self.notices.translations_for(employee))  # fmt: skip
            self.notices.staff_message(session, kind="deadline_digest", inquiry=None, employee=employee,
                                       subject=notice.subject, text=notice.text, now=now)  # fmt: skip
            return 1
