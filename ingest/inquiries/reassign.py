"""Reassigning an inquiry to another employee (policy 10.3): recorded as an event, told to the
client (redirect notice) and to the new employee; the deadline does not restart."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.i18n import N_
from ingest.inquiries.errors import InquiryError, UnknownEmployee
from ingest.outgoing.notices import Notices
from storage import inquiry_repo, repo
from storage.models import OPEN_STATUSES, Contact, Employee, Inquiry, Kind


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
    actor: str,
    reason: str,
    notices: Notices,
    now: datetime,
    reason_code: str | None = None,
) -> Employee:
    """Give the inquiry to another employee (clause 10.3).

    The client receives a redirect notice with the new specialist's details and
    the new employee a notification; the deadline does not restart.
    """
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
    old = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
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
            "due_at_kept": inquiry.due_at.isoformat() if inquiry.due_at else None,
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
                            reason_code=reason_code)  # fmt: skip
    return new
