"""Changes staff make to an inquiry, each recorded as an event with what it tells whom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ingest.outgoing.notices import Notices
from storage import repo
from storage.models import OPEN_STATUSES, Contact, Employee, Event, Inquiry, Kind, Message


class InquiryError(Exception):
    """A change that cannot be made as asked (unknown reference, employee, closed inquiry)."""


def _employee(session: Session, key: str) -> Employee:
    employee = session.exec(select(Employee).where(Employee.key == key)).first()
    if employee is None:
        raise InquiryError(f"no employee {key!r}")
    if not employee.active:
        raise InquiryError(f"employee {key!r} is no longer active")
    return employee


def named_in_complaint(session: Session, inquiry: Inquiry) -> set[str]:
    """The employees the router found named in the inquiry's text (its ``routed`` event)."""
    named: set[str] = set()
    for event in session.exec(select(Event).where(Event.inquiry_id == inquiry.id, Event.type == "routed")).all():
        facts = event.data.get("facts") if isinstance(event.data, dict) else None
        values = facts.get("employees_named") if isinstance(facts, dict) else None
        named.update(v for v in values or () if isinstance(v, str))
    return named


def get_inquiry(session: Session, reference: str) -> Inquiry:
    inquiry = repo.inquiry_by_reference(session, reference=reference.strip().upper())
    if inquiry is None:
        raise InquiryError(f"no inquiry {reference!r}")
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
) -> Employee:
    """Give the inquiry to another employee (clause 10.3).

    The client receives a redirect notice with the new specialist's details and
    the new employee a notification; the deadline does not restart.
    """
    if inquiry.status not in OPEN_STATUSES:
        raise InquiryError(f"{inquiry.reference} is {inquiry.status}; reopen it before reassigning")
    new = _employee(session, to_employee)
    if new.id == inquiry.employee_id:
        raise InquiryError(f"{inquiry.reference} is already assigned to {to_employee}")
    if new.role == "admin":
        raise InquiryError(f"{to_employee} is an administrator and does not handle inquiries")
    if inquiry.kind == Kind.COMPLAINT.value and to_employee in named_in_complaint(session, inquiry):
        # Policy clause 13: the complaint would reach the very person it is about (the notice,
        # the reply address, the redirect notice to the client).
        raise InquiryError(f"{inquiry.reference} is a complaint that names {to_employee}; it cannot go to them")
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
            "due_at_kept": inquiry.due_at.isoformat() if inquiry.due_at else None,
        },
    )
    contact = session.get(Contact, inquiry.contact_id)
    assert contact is not None
    last_in = session.exec(
        select(Message)
        .where(Message.inquiry_id == inquiry.id, Message.direction == "in")
        .order_by(col(Message.received_at).desc())
        .limit(1)
    ).first()
    if last_in is not None:
        notices.staff(
            session, inquiry=inquiry, contact=contact, message=last_in, employee=new, follow_up=False, now=now
        )
    notices.client_redirect(session, inquiry=inquiry, contact=contact, employee=new, reason=reason, now=now)
    return new


@dataclass(frozen=True)
class Explanation:
    reference: str
    lines: list[str]


def explain(session: Session, *, reference: str, tz: ZoneInfo) -> Explanation:
    """Why the inquiry went to whom, and how its due date was computed, from its events."""
    inquiry = get_inquiry(session, reference)
    employees = {e.id: e for e in session.exec(select(Employee)).all()}
    events = session.exec(
        select(Event).where(Event.inquiry_id == inquiry.id).order_by(col(Event.at), col(Event.id))
    ).all()
    current = employees.get(inquiry.employee_id)
    lines = [
        f"{inquiry.reference}: {inquiry.kind}, topic {inquiry.topic or '—'}, {inquiry.complexity}, "
        f"language {inquiry.language or '—'}, status {inquiry.status}",
        f"responsible: {_who(current)}",
        f"received {_local(inquiry.received_at, tz)}, due {_local(inquiry.due_at, tz)}",
    ]
    for event in events:
        lines.append(
            f"{_local(event.at, tz)}  {event.type}" + (f" by {event.actor}" if event.actor != "system" else "")
        )
        if event.type == "routed":
            lines.extend("    " + line for line in _explain_routing(event.data))
        elif event.type == "reassigned":
            lines.append(
                f"    from {event.data.get('from')} to {event.data.get('to')}: {event.data.get('reason') or 'no reason given'}"
            )
    return Explanation(reference=inquiry.reference, lines=lines)


def _explain_routing(data: dict[str, Any]) -> list[str]:
    facts = data.get("facts", {})
    out = [f"rule {data.get('rule')} chose {data.get('employee')}"]
    if "topic" in facts:
        out.append(f"topic {facts['topic']}: keyword {facts.get('keyword')!r} matched {facts.get('matched_word')!r}")
    if facts.get("reason"):
        out.append(f"why: {facts['reason']}")
    out.append(
        f"language {facts.get('language')}, kind {facts.get('kind')}"
        + (f" (keyword {facts['kind_keyword']!r})" if facts.get("kind_keyword") else "")
    )
    for key, label in (
        ("absent", "absent"),
        ("candidates", "candidates"),
        ("speaks_client_language", "speak the client's language"),
        ("load", "load (open + due today)"),
        ("deputy_for", "standing in for"),
        ("employees_named", "employees named in the text"),
        ("complexity_reasons", "complex because"),
    ):
        if facts.get(key):
            out.append(f"{label}: {facts[key]}")
    due = facts.get("due") or {}
    if due:
        out.append(
            f"due: received {due.get('received_at')}, counted from {due.get('counted_from')}, "
            f"{due.get('working_days')} working day(s) -> {due.get('due_at')}"
        )
        for skipped in due.get("skipped", []):
            out.append(f"    skipped {skipped['date']}: {skipped['why']}")
    return out


def _who(employee: Employee | None) -> str:
    if employee is None:
        return "nobody"
    return f"{employee.name} {employee.surname} ({employee.key}), {employee.position}"


def _local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "—"
