"""Logging a phone call or an in-person visit as an inquiry (policy clauses 6, 10.2).

It becomes an inquiry like any message: a contact (found by e-mail or phone, or new), the
client's words as the inquiry's first message, the ``received`` and ``routed`` events, a due
date on the working calendar with its alarms. It is assigned to the employee who logs it,
unless they ask for routing; a complaint is always routed, so it reaches the board member and
never the employee it may be about (clause 13). When the employee suggested putting a complex
request in writing, the client is sent how to do it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from channels.calls import normalise_number
from ingest.inquiries.opening import create_inquiry, record_routing, situation
from ingest.outgoing.notices import Notices
from router.deadlines import DeadlinePolicy
from router.route import Router
from router.understand import Understanding
from storage import repo
from storage.actors import Actor
from storage.models import Contact, Direction, Employee, Inquiry, Kind, Message, Outbox

SUBJECTS = {"phone": "Tālruņa saruna", "visit": "Apmeklējums klātienē"}


@dataclass(frozen=True)
class WrittenRequestInfo:
    """How a client puts a request in writing (policy clause 10.2); empty parts are left out."""

    email: str
    postal_address: str = ""
    visiting_address: str = ""
    visiting_hours: str = ""


@dataclass(frozen=True)
class Interaction:
    """What staff logged: a call or visit, the client's words and how to reach them."""

    channel: str  # "phone" or "visit"
    text: str
    received_at: datetime
    client_name: str | None = None
    email: str | None = None
    phone: str | None = None
    topic: str | None = None
    language: str | None = None
    complexity: str = "simple"
    route: bool = False
    suggested_written: bool = False


@dataclass(frozen=True)
class InteractionWindow:
    """When a logged call or visit may have taken place: not older than ``max_age``, not later than
    ``future_skew`` ahead of the clock (``[interactions]`` in the configuration)."""

    max_age: timedelta = timedelta(days=30)
    future_skew: timedelta = timedelta(minutes=5)

    def problem(self, at: datetime, now: datetime) -> str | None:
        """Why ``at`` (aware) cannot be taken: "future" or "too_old"; None when it fits."""
        try:
            # A time at the edge of the calendar (year 1 at +14:00) has no UTC equivalent.
            at = at.astimezone(UTC)
        except (OverflowError, ValueError):
            return "too_old" if at.year < now.year else "future"
        if at > now + self.future_skew:
            return "future"
        if at < now - self.max_age:
            return "too_old"
        return None


@dataclass(frozen=True)
class Desk:
    """What logging needs from the service: the router, what is told to whom, the deadline rules."""

    router: Router
    notices: Notices
    policy: DeadlinePolicy
    reference_prefix: str
    tz: ZoneInfo
    written: WrittenRequestInfo
    window: InteractionWindow = InteractionWindow()


@dataclass(frozen=True)
class Logged:
    inquiry: Inquiry
    employee_key: str
    written_form: Outbox | None
    queued: bool  # outgoing messages were queued: wake the sender after the commit
    # Logged on an inquiry with a call back owed (ingest/inquiries/call_logging.py): it is done.
    call_back_done: bool = False


def log_interaction(session: Session, *, entry: Interaction, logger: Employee, desk: Desk, now: datetime) -> Logged:
    """The inquiry with its first message, routing and alarms; who must be told is queued."""
    contact = _contact(session, entry)
    understood = desk.router.understand(subject=None, text=entry.text)
    employee_key, rule, facts = _assignment(
        session, entry=entry, understood=understood, logger=logger, contact=contact, desk=desk
    )
    employee = repo.employees_by_key(session).get(employee_key)
    inquiry = _open(session, entry=entry, understood=understood, contact=contact, employee=employee, desk=desk, now=now)
    assert inquiry.id is not None
    message = logged_message(session, entry=entry, inquiry=inquiry, contact=contact)
    repo.add_event(session, inquiry_id=inquiry.id, type="received", at=now, actor=Actor.employee(logger.key),
                   data={"channel": entry.channel, "logged_by": logger.key, "message_id": message.id})  # fmt: skip
    record_routing(session, inquiry=inquiry, employee_key=employee_key, rule=rule, facts=facts,
                   calendar=desk.router.calendar, policy=desk.policy, now=now)  # fmt: skip
    queued = False
    if employee is not None and employee.id != logger.id:
        # Someone else handles it: they learn of it as of any new inquiry.
        desk.notices.staff(session, inquiry=inquiry, contact=contact, message=message, employee=employee,
                           follow_up=False, now=now)  # fmt: skip
        queued = True
    sent: Outbox | None = None
    if entry.suggested_written:
        sent = send_written_form(session, desk, inquiry=inquiry, contact=contact, employee=employee or logger, now=now)
        queued = queued or sent is not None
    return Logged(inquiry=inquiry, employee_key=employee_key, written_form=sent, queued=queued)


def _assignment(
    session: Session,
    *,
    entry: Interaction,
    understood: Understanding,
    logger: Employee,
    contact: Contact,
    desk: Desk,
) -> tuple[str, str, dict[str, Any]]:
    """Who handles it, by which rule, and the facts recorded with the ``routed`` event."""
    facts: dict[str, Any] = {"logged_by": logger.key, "language": understood.language, "kind": understood.kind}
    key, rule = logger.key, "logged-by-employee"
    if entry.route or understood.kind == Kind.COMPLAINT.value:
        calendar = desk.router.calendar
        decision = desk.router.decide(
            subject=None, text=entry.text, received_at=entry.received_at, sender_name=entry.client_name,
            situation=situation(session, calendar=calendar, contact=contact, received_at=entry.received_at),
        )  # fmt: skip
        key, rule, facts = decision.employee_key, decision.rule, {**decision.facts, "logged_by": logger.key}
    days = int(desk.router.working_days[entry.complexity])
    facts["due"] = desk.router.calendar.explain_due(entry.received_at, days)
    return key, rule, facts


def _open(
    session: Session,
    *,
    entry: Interaction,
    understood: Understanding,
    contact: Contact,
    employee: Employee | None,
    desk: Desk,
    now: datetime,
) -> Inquiry:
    days = int(desk.router.working_days[entry.complexity])
    return create_inquiry(
        session, reference_prefix=desk.reference_prefix, tz=desk.tz, contact=contact,
        received_at=entry.received_at, now=now, channel=entry.channel,
        topic=entry.topic or (understood.topic.topic.key if understood.topic else None), kind=understood.kind,
        language=entry.language or understood.language, complexity=entry.complexity,
        subject=SUBJECTS[entry.channel], employee_id=employee.id if employee else None,
        due_at=desk.router.calendar.due_at(entry.received_at, days),
    )  # fmt: skip


def logged_message(
    session: Session, *, entry: Interaction, inquiry: Inquiry, contact: Contact, sender: str | None = None
) -> Message:
    """The client's words of a logged call or visit, as a message of ``inquiry`` (direction in,
    whoever dialled); from ``sender`` when given, else the contact's number or address."""
    assert inquiry.id is not None
    message = Message(
        inquiry_id=inquiry.id,
        direction=Direction.IN.value,
        channel=entry.channel,
        external_id=f"{entry.channel}-log:{secrets.token_hex(16)}",
        sender=sender or contact.phone or contact.email,
        sender_name=contact.name,
        subject=SUBJECTS[entry.channel],
        text=entry.text.strip(),
        received_at=entry.received_at,
    )
    session.add(message)
    session.flush()
    return message


def _contact(session: Session, entry: Interaction) -> Contact:
    email = entry.email.strip().lower() if entry.email and entry.email.strip() else None
    phone = normalise_number(entry.phone) if entry.phone and entry.phone.strip() else None
    name = entry.client_name.strip() if entry.client_name and entry.client_name.strip() else None
    contact = repo.find_contact_by_email(session, email=email) if email else None
    if contact is None and phone:
        contact = repo.find_contact_by_phone(session, phone=phone)
    if contact is None:
        contact = Contact(name=name, email=email, phone=phone)
    else:
        # Fill in what is missing; never overwrite what the client's own messages recorded.
        contact.name = contact.name or name
        contact.email = contact.email or email
        contact.phone = contact.phone or phone
    session.add(contact)
    session.flush()
    return contact


def send_written_form(
    session: Session, desk: Desk, *, inquiry: Inquiry, contact: Contact, employee: Employee, now: datetime
) -> Outbox | None:
    """Policy clause 10.2: how to submit the request in writing, by e-mail (or SMS to a mobile)."""
    assert inquiry.id is not None
    # E-mail first: the instructions are a letter's worth. A text message only without an address.
    if contact.email and contact.email_undeliverable_at is None:
        route: tuple[str, str] | None = ("email", contact.email)
    else:
        route = desk.notices.reply_route(session, inquiry=inquiry, contact=contact, now=now)
    if route is None:
        repo.add_event(session, inquiry_id=inquiry.id, type="written_form_not_sent", at=now,
                       data={"reason": "no e-mail address and no mobile number to text"})  # fmt: skip
        return None
    return desk.notices.send_template(
        session, "written_form", route, inquiry=inquiry, contact=contact, employee=employee, now=now,
        written=desk.written,
    )  # fmt: skip
