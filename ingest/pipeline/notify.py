"""Step: the responsible employee is told (policy 8); the client of a new inquiry is told who
handles it and by when (policy 9). A missed call on an inquiry is a call-back task for its
employee (ingest/inquiries/call_back.py). Always the last step: it decides the outcome."""

from __future__ import annotations

from ingest.inquiries.call_back import call_back_task
from ingest.outgoing.queued_events import together
from ingest.pipeline.arrival import Arrival, Outcome, Step
from storage.models import Employee


def run(arrival: Arrival) -> Outcome | None:
    inquiry, contact, message = arrival.inquiry, arrival.contact, arrival.message
    assert inquiry is not None and contact is not None and message is not None
    employee = arrival.session.get(Employee, inquiry.employee_id) if inquiry.employee_id is not None else None
    if employee is not None:
        # One INSERT for both messages, and their events after it.
        with together(arrival.session):
            _tell(arrival, employee)
        arrival.queued = True
    return Outcome.THREADED if arrival.follow_up else Outcome.NEW_INQUIRY


def _tell(arrival: Arrival, employee: Employee) -> None:
    inquiry, contact, message = arrival.inquiry, arrival.contact, arrival.message
    assert inquiry is not None and contact is not None and message is not None
    notices, session, now = arrival.office.notices, arrival.session, arrival.now
    if arrival.follow_up and arrival.inbound.channel == "phone":
        call_back_task(session, notices=notices, calendar=arrival.office.router.calendar, inquiry=inquiry,
                       message=message, employee=employee, now=now)  # fmt: skip
        return
    notices.staff(
        session,
        inquiry=inquiry,
        contact=contact,
        message=message,
        employee=employee,
        follow_up=arrival.follow_up,
        now=now,
    )
    if not arrival.follow_up and arrival.acknowledge:
        notices.client_ack(session, inquiry=inquiry, contact=contact, message=message, employee=employee, now=now,
                           opened_now=True, contact_new=arrival.contact_new)  # fmt: skip


STEP = Step("notify", run)
