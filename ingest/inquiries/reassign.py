"""Reassigning an inquiry to another employee (policy 10.3): recorded as an event, told to the
client (redirect notice) and to the new employee; the deadline does not restart, unless it has
already passed: then the client is given a new date rather than one in the past, and the missed
one stays recorded against whoever held the inquiry when it passed."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.i18n import N_
from ingest.inquiries.clock import schedule_alarms
from ingest.inquiries.errors import InquiryError, UnknownEmployee
from ingest.outgoing.notices import Notices
from router.calendar import WorkingCalendar
from router.deadlines import DeadlinePolicy
from storage import inquiry_repo, repo
from storage.actors import Actor
from storage.models import OPEN_STATUSES, Contact, Employee, Inquiry, InquiryStatus, Kind


def _employee(session: Session, key: str) -> Employee:
    employee = inquiry_repo.employee_by_key(session, key=key)
    if employee is None:
        raise UnknownEmployee(N_("There is no employee %(employee)s."), employee=key)
    if not employee.active:
        raise UnknownEmployee(N_("The employee %(employee)s is no longer active."), employee=key)
    return employee


def named_in_complaint(session: Session, inquiry: Inquiry) -> set[str]:
    """The employees the router found named in the inquiry's text (its ``routed`` event)."""
    named: set[str] = set()
    assert inquiry.id is not None
    for event in inquiry_repo.routed_events(session, inquiry_id=inquiry.id):
        facts = event.data.get("facts") if isinstance(event.data, dict) else None
        values = facts.get("employees_named") if isinstance(facts, dict) else None
        named.update(v for v in values or () if isinstance(v, str))
    return named


def get_inquiry(session: Session, reference: str) -> Inquiry:
    inquiry = repo.inquiry_by_reference(session, reference=reference.strip().upper())
    if inquiry is None:
        raise InquiryError(N_("There is no inquiry %(reference)s."), reference=reference)
    return inquiry


def reassign(
    session: Session,
    *,
    inquiry: Inquiry,
    to_employee: str,
    actor: Actor,
    reason: str,
    notices: Notices,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    now: datetime,
    reason_code: str | None = None,
) -> Employee:
    """Give the inquiry to another employee (clause 10.3).

    The client receives a redirect notice with the new specialist's details and
    the new employee a notification; the deadline does not restart unless it has passed
    (:func:`_due_again`).
    """
    new = _target(session, inquiry, to_employee)
    old = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
    missed = _due_again(session, inquiry=inquiry, old=old, calendar=calendar, policy=policy, now=now)
    inquiry.employee_id = new.id
    inquiry.updated_at = now
    session.add(inquiry)
    assert inquiry.id is not None
    repo.add_event(
        session,
        inquiry_id=inquiry.id,
        type="reassigned",
        at=now,
        actor=actor,
        data={
            "from": old.key if old else None,
            "to": new.key,
            "reason": reason,
            "reason_code": reason_code,
            "due_at_kept": inquiry.due_at.isoformat() if inquiry.due_at and missed is None else None,
            **({"missed_due_at": missed.isoformat(), "due_at": _iso(inquiry.due_at)} if missed else {}),
        },
    )
    contact = session.get(Contact, inquiry.contact_id)
    assert contact is not None
    last_in = inquiry_repo.last_incoming(session, inquiry_id=inquiry.id)
    if last_in is not None:
        notices.staff(
            session, inquiry=inquiry, contact=contact, message=last_in, employee=new, follow_up=False, now=now
        )
    notices.client_redirect(session, inquiry=inquiry, contact=contact, employee=new, reason=reason, now=now,
                            reason_code=reason_code, due_moved=missed is not None)  # fmt: skip
    return new


def _target(session: Session, inquiry: Inquiry, to_employee: str) -> Employee:
    """The employee the inquiry may go to; InquiryError when it may not."""
    new = _employee(session, to_employee)
    if inquiry.status not in OPEN_STATUSES:
        raise InquiryError(N_("%(reference)s is no longer open; reopen it before reassigning it."),
                           reference=inquiry.reference)  # fmt: skip
    if new.id == inquiry.employee_id:
        raise InquiryError(N_("%(reference)s is already assigned to %(employee)s."), reference=inquiry.reference,
                           employee=to_employee)  # fmt: skip
    if new.role == "admin":
        raise InquiryError(N_("%(employee)s is an administrator and does not handle inquiries."), employee=to_employee)
    if inquiry.kind == Kind.COMPLAINT.value and to_employee in named_in_complaint(session, inquiry):
        # Policy clause 13: the complaint would reach the very person it is about (the notice,
        # the reply address, the redirect notice to the client).
        raise InquiryError(N_("%(reference)s is a complaint that names %(employee)s; it cannot go to them."),
                           reference=inquiry.reference, employee=to_employee)  # fmt: skip
    return new


def _due_again(
    session: Session,
    *,
    inquiry: Inquiry,
    old: Employee | None,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    now: datetime,
) -> datetime | None:
    """An inquiry whose deadline has passed gets a new one, the missed one returned (None when it has
    not passed).

    Keeping the deadline would tell the client a date in the past as the answer date, and count the
    miss against the employee who takes the inquiry over. The new employee gets the configured
    working days from now; the first deadline missed, with who held the inquiry then, stays on
    the inquiry for the figures (storage/figures_repo.py).
    """
    due = inquiry.due_at
    if inquiry.status != InquiryStatus.OPEN.value or due is None or due > now:
        return None  # waiting for the client: the clock stands, nothing has passed
    if inquiry.missed_due_at is None:
        inquiry.missed_due_at, inquiry.missed_by_id = due, old.id if old else None
    inquiry.due_at = calendar.due_at(now, policy.reassigned_overdue_days)
    assert inquiry.id is not None
    schedule_alarms(session, inquiry=inquiry, calendar=calendar, policy=policy,
                    counted_from=calendar.start_of_counting(now), now=now)  # fmt: skip
    return due


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
