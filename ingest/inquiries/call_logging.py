"""Logging a call or a visit on the inquiry it was about, instead of as a new inquiry.

The employee asked to call a client back (ingest/inquiries/call_back.py) logs the call on the
client's inquiry: the client's words become a message of that inquiry, and a phone call settles
its call-back tasks, so their reminder is never sent. A client who talked has answered a
question of ours, so a clock stopped for them runs again (as when they write).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from channels.calls import normalise_number
from ingest.i18n import N_
from ingest.inquiries import call_back
from ingest.inquiries.clock import resume_clock
from ingest.inquiries.errors import InquiryError
from ingest.inquiries.interactions import Desk, Interaction, Logged, logged_message, send_written_form
from storage import repo
from storage.actors import Actor
from storage.models import OPEN_STATUSES, Contact, Employee, Inquiry, InquiryStatus, Message

# How the message came onto the inquiry, in its ``message_received`` event (``ingest explain``).
RULE = "logged_on_inquiry"


def log_on_inquiry(
    session: Session, *, entry: Interaction, inquiry: Inquiry, logger: Employee, desk: Desk, now: datetime
) -> Logged:
    """The call or visit as a message of ``inquiry`` (open or waiting), a phone call settling its
    call backs; InquiryError when the inquiry is answered or closed (reopen it first).

    ``inquiry`` is the final one of a merge, its row locked (storage/merge_repo.py
    ``locked_final``, as the callers find it), so its status is read as it stands."""
    if inquiry.status not in OPEN_STATUSES:
        raise InquiryError(N_("%(reference)s is answered or closed; reopen it to log a call or visit on it."),
                           reference=inquiry.reference)  # fmt: skip
    assert inquiry.id is not None
    contact = session.get(Contact, inquiry.contact_id)
    assert contact is not None
    message = _message(session, entry=entry, inquiry=inquiry, contact=contact)
    actor = Actor.employee(logger.key)
    repo.add_event(session, inquiry_id=inquiry.id, type="message_received", at=now, actor=actor, data={
        "message_id": message.id, "channel": entry.channel, "logged_by": logger.key, "joined": {"rule": RULE},
    })  # fmt: skip
    if inquiry.status == InquiryStatus.WAITING_CLIENT.value:
        resume_clock(session, inquiry=inquiry, calendar=desk.router.calendar, policy=desk.policy, now=now)
    inquiry.updated_at = now
    session.add(inquiry)
    settled = None
    if entry.channel == "phone":
        settled = call_back.settle(session, inquiry_id=inquiry.id, reason="call_logged", actor=actor, now=now,
                                   message_id=message.id)  # fmt: skip
    employee = session.get(Employee, inquiry.employee_id) if inquiry.employee_id is not None else None
    sent = None
    if entry.suggested_written:
        sent = send_written_form(session, desk, inquiry=inquiry, contact=contact, employee=employee or logger, now=now)
    return Logged(inquiry=inquiry, employee_key=employee.key if employee else logger.key, written_form=sent,
                  queued=sent is not None, call_back_done=settled is not None)  # fmt: skip


def _message(session: Session, *, entry: Interaction, inquiry: Inquiry, contact: Contact) -> Message:
    phone = normalise_number(entry.phone) if entry.phone and entry.phone.strip() else None
    return logged_message(session, entry=entry, inquiry=inquiry, contact=contact, sender=phone)
