"""A complaint's later messages are read for names too (policy clause 13).

The router looks for the employees a complaint names when it opens the inquiry; a client who
names someone only in their second message ("and Kalniņš did not even answer the phone") must
get the same protection: the names found are recorded on the inquiry (the ``named_in_complaint``
event, read with the routing's own facts by the access rules, the notices and reassignment),
and an inquiry held by an employee it now names goes to the board member, or to the fallback
employee when the board member is named too.
"""

from __future__ import annotations

from ingest.inquiries.reassign import named_in_complaint, reassign
from ingest.pipeline.arrival import Arrival
from storage import inquiry_repo, repo
from storage.actors import SYSTEM_ACTOR
from storage.models import Employee, Kind


def record_names(arrival: Arrival) -> None:
    inquiry, inbound, office = arrival.inquiry, arrival.inbound, arrival.office
    assert inquiry is not None and inquiry.id is not None
    if inquiry.kind != Kind.COMPLAINT.value:
        return
    found = office.router.named_employees([inbound.subject, inbound.text], inbound.sender_name)
    session = arrival.session
    new = sorted(set(found) - named_in_complaint(session, inquiry))
    if not new:
        return
    repo.add_event(session, inquiry_id=inquiry.id, type=inquiry_repo.NAMED_EVENT, at=arrival.now,
                   data={"facts": {"employees_named": new}})  # fmt: skip
    holder = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
    if holder is None or holder.key not in new:
        return
    named = named_in_complaint(session, inquiry)
    router = office.router
    target = next((k for k in (router.board_member, router.fallback_employee) if k and k not in named), None)
    if target is None or target == holder.key:
        return  # nobody left to take it: the board sees every complaint anyway
    reassign(session, inquiry=inquiry, to_employee=target, actor=SYSTEM_ACTOR, reason="complaint names the handler",
             notices=office.notices, calendar=router.calendar, policy=office.deadline_policy, now=arrival.now,
             reason_code="complaint_names_handler")  # fmt: skip
