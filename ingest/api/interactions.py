"""``POST /api/v1/interactions``: a phone call or an in-person visit, logged by staff (clauses 6, 10.2).

It becomes an inquiry like any message: a contact (found by e-mail or phone,
or new), the client's words as the inquiry's first message, the ``received``
and ``routed`` events, a due date on the working calendar with its alarms. It
is assigned to the employee who logs it, unless they ask for routing; a
complaint is always routed, so it reaches the board member and never the
employee it may be about (clause 13). When the employee suggested putting a
complex request in writing, the client is sent how to do it.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, and the
# `Caller` alias is local to the router factory, so they must be evaluated where they are written.

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlmodel import Session

from channels.calls import normalise_number
from ingest.api.auth import INQUIRY_ROLES, Principal, require_roles
from ingest.api.context import ApiContext
from ingest.api.errors import ERROR_RESPONSES, ApiError
from ingest.api.inquiries import summary_of
from ingest.api.schemas import InteractionIn, InteractionOut
from ingest.inquiries import audit
from ingest.inquiries.opening import create_inquiry, record_routing, situation
from storage import repo
from storage.db import transaction
from storage.models import Contact, Direction, Employee, Inquiry, Kind, Message, Outbox

SUBJECTS = {"phone": "Tālruņa saruna", "visit": "Apmeklējums klātienē"}
# A call logged a little ahead of the server's clock is fine; one dated in the future is a mistake.
CLOCK_SLACK = timedelta(minutes=5)


def _contact(session: Session, body: InteractionIn) -> Contact:
    email = body.email.strip().lower() if body.email and body.email.strip() else None
    phone = normalise_number(body.phone) if body.phone and body.phone.strip() else None
    name = body.client_name.strip() if body.client_name and body.client_name.strip() else None
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


def interactions_router(ctx: ApiContext, authenticate: Callable[..., Principal]) -> APIRouter:
    api = APIRouter(prefix="/api/v1/interactions", tags=["interactions"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(authenticate)]

    @api.post("", response_model=InteractionOut, status_code=201, summary="Log a phone call or a visit as an inquiry")
    def log_interaction(principal: Caller, body: InteractionIn) -> InteractionOut:
        require_roles(principal, *INQUIRY_ROLES, what="log calls and visits")
        now = ctx.clock()
        received_at = body.at or now
        if received_at > now + CLOCK_SLACK:
            raise ApiError(422, "invalid_request", "at: lies in the future")
        topics = {t.key for t in ctx.router.topics}
        if body.topic is not None and body.topic not in topics:
            raise ApiError(422, "unknown_topic", f"no topic {body.topic!r}")
        queued = False
        with transaction(ctx.sessions) as session:
            logger = session.get(Employee, principal.employee_id)
            assert logger is not None
            contact = _contact(session, body)
            subject = SUBJECTS[body.channel]
            understood = ctx.router.understand(subject=None, text=body.text)
            facts: dict[str, Any] = {
                "logged_by": principal.key,
                "language": understood.language,
                "kind": understood.kind,
            }
            days = ctx.working_days(body.complexity)
            if body.route or understood.kind == Kind.COMPLAINT.value:
                decision = ctx.router.decide(
                    subject=None, text=body.text, received_at=received_at, sender_name=body.client_name,
                    situation=situation(session, calendar=ctx.calendar, contact=contact, received_at=received_at),
                )  # fmt: skip
                employee_key, rule, facts = (
                    decision.employee_key,
                    decision.rule,
                    {**decision.facts, "logged_by": principal.key},
                )
            else:
                employee_key, rule = principal.key, "logged-by-employee"
            facts["due"] = ctx.calendar.explain_due(received_at, days)
            employees = repo.employees_by_key(session)
            employee = employees.get(employee_key)
            topic = body.topic or (understood.topic.topic.key if understood.topic else None)
            inquiry = create_inquiry(
                session, reference_prefix=ctx.reference_prefix, tz=ctx.tz, contact=contact,
                received_at=received_at, now=now, channel=body.channel, topic=topic, kind=understood.kind,
                language=body.language or understood.language, complexity=body.complexity, subject=subject,
                employee_id=employee.id if employee else None, due_at=ctx.calendar.due_at(received_at, days),
            )  # fmt: skip
            assert inquiry.id is not None
            message = Message(
                inquiry_id=inquiry.id,
                direction=Direction.IN.value,
                channel=body.channel,
                external_id=f"{body.channel}-log:{secrets.token_hex(16)}",
                sender=contact.phone or contact.email,
                sender_name=contact.name,
                subject=subject,
                text=body.text.strip(),
                received_at=received_at,
            )
            session.add(message)
            session.flush()
            repo.add_event(session, inquiry_id=inquiry.id, type="received", at=now, actor=principal.key,
                           data={"channel": body.channel, "logged_by": principal.key, "message_id": message.id})  # fmt: skip
            record_routing(session, inquiry=inquiry, employee_key=employee_key, rule=rule, facts=facts,
                           calendar=ctx.calendar, policy=ctx.policy, now=now)  # fmt: skip
            if employee is not None and employee.id != principal.employee_id:
                # Someone else handles it: they learn of it as of any new inquiry.
                ctx.notices.staff(session, inquiry=inquiry, contact=contact, message=message, employee=employee,
                                  follow_up=False, now=now)  # fmt: skip
                queued = True
            sent: Outbox | None = None
            if body.suggested_written:
                sent = _send_written_form(
                    session, ctx, inquiry=inquiry, contact=contact, employee=employee or logger, now=now
                )
                queued = queued or sent is not None
            audit.record(session, principal=principal, action="interaction.log", now=now, inquiry_id=inquiry.id,
                         detail={"reference": inquiry.reference, "channel": body.channel, "assigned_to": employee_key,
                                 "written_form_outbox_id": sent.id if sent else None})  # fmt: skip
            out = InteractionOut(
                inquiry=summary_of(session, inquiry, now), written_form_sent_on=sent.channel if sent else None
            )
        if queued:
            ctx.wake_outbox()
        return out

    return api


def _send_written_form(
    session: Session, ctx: ApiContext, *, inquiry: Inquiry, contact: Contact, employee: Employee, now: datetime
) -> Outbox | None:
    """Policy clause 10.2: how to submit the request in writing, by e-mail (or SMS to a mobile)."""
    assert inquiry.id is not None
    # E-mail first: the instructions are a letter's worth. A text message only without an address.
    if contact.email and contact.email_undeliverable_at is None:
        route: tuple[str, str] | None = ("email", contact.email)
    else:
        route = ctx.notices.reply_route(session, inquiry=inquiry, contact=contact, now=now)
    if route is None:
        repo.add_event(session, inquiry_id=inquiry.id, type="written_form_not_sent", at=now,
                       data={"reason": "no e-mail address and no mobile number to text"})  # fmt: skip
        return None
    return ctx.notices._send_template(  # the shared machinery for templated client messages
        session,
        "written_form",
        route,
        inquiry=inquiry,
        contact=contact,
        employee=employee,
        now=now,
        written=ctx.written,
    )
