"""Step: a message that continues no inquiry opens one, routed to a competent employee.

The router decides topic, kind, language, complexity, the employee and the due date from the
text and from what storage knows (absences, loads, the client's current employee); the
``received`` and ``routed`` events record it, with the rule and facts that chose.
"""

from __future__ import annotations

import logging

from ingest.inquiries.opening import create_inquiry, record_routing
from ingest.pipeline.arrival import Arrival, Outcome, Step
from storage.repo import add_event

log = logging.getLogger(__name__)


def run(arrival: Arrival) -> Outcome | None:
    if arrival.inquiry is not None:
        return None
    session, inbound, contact, office, now = (
        arrival.session,
        arrival.inbound,
        arrival.contact,
        arrival.office,
        arrival.now,
    )
    assert contact is not None
    calendar, batch = office.router.calendar, arrival.batch
    decision = office.router.decide(
        subject=inbound.subject,
        text=inbound.text,
        received_at=inbound.received_at,
        attachments=len(inbound.attachments),
        situation=batch.situation(contact=contact, received_at=inbound.received_at),
        sender_name=inbound.sender_name,
        understanding=arrival.understanding,
    )
    employee = batch.employees().get(decision.employee_key)
    inquiry = create_inquiry(
        session,
        reference_prefix=office.reference_prefix,
        tz=office.tz,
        contact=contact,
        received_at=inbound.received_at,
        now=now,
        next_number=batch.next_number,
        channel=inbound.channel,
        topic=decision.topic_key,
        kind=decision.kind,
        language=decision.language,
        complexity=decision.complexity,
        subject=inbound.subject,
        employee_id=employee.id if employee else None,
        due_at=decision.due_at,
    )
    assert inquiry.id is not None and inquiry.due_at is not None
    if employee is not None:
        batch.assigned(employee_key=employee.key, due_at=inquiry.due_at)
    add_event(session, inquiry_id=inquiry.id, type="received", at=now, data={"channel": inbound.channel})
    record_routing(
        session,
        inquiry=inquiry,
        employee_key=decision.employee_key,
        rule=decision.rule,
        facts=decision.facts,
        calendar=calendar,
        policy=office.deadline_policy,
        now=now,
    )
    if employee is None:
        log.error("inquiry %s: routed employee %s is not in the database", inquiry.reference, decision.employee_key)
    arrival.inquiry = inquiry
    return None


STEP = Step("open and route", run)
