"""Answering the client, and marking an inquiry answered: the same record whether the answer
came by e-mail (ingest/pipeline/staff_reply.py), the API or the dashboard."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.i18n import N_
from ingest.inquiries import call_back
from ingest.inquiries.clock import cancel_alarms
from ingest.inquiries.errors import InquiryError
from ingest.inquiries.staff_messages import add_staff_message
from ingest.outgoing.notices import Notices, sent_text
from storage import repo
from storage.actors import Actor
from storage.models import Contact, Direction, Employee, Inquiry, InquiryStatus, Message, Outbox


def mark_answered(
    session: Session,
    *,
    inquiry: Inquiry,
    actor: Actor,
    message_id: int | None,
    sent: Outbox | None,
    now: datetime,
    via: str = "email",
) -> None:
    """First response and answer times, status answered, reminders (a call back's too) cancelled, the
    ``answered`` event."""
    assert inquiry.id is not None
    inquiry.first_response_at = inquiry.first_response_at or now
    inquiry.answered_at = now
    inquiry.status = InquiryStatus.ANSWERED.value
    inquiry.clock_paused_at = None
    inquiry.updated_at = now
    session.add(inquiry)
    cancel_alarms(session, inquiry_id=inquiry.id)
    call_back.settle(session, inquiry_id=inquiry.id, reason="answered", actor=actor, now=now)
    repo.add_event(
        session,
        inquiry_id=inquiry.id,
        type="answered",
        at=now,
        actor=actor,
        data={
            "message_id": message_id,
            "channel": inquiry.channel,
            "on_time": inquiry.due_at is None or now <= inquiry.due_at,
            "outbox_id": sent.id if sent else None,
            "via": via,
        },
    )


def answer(
    session: Session, *, inquiry: Inquiry, author: Employee, text: str, notices: Notices, via: str, now: datetime
) -> tuple[Message, Outbox | None]:
    """Send ``text`` to the client on their channel, signed by ``author``, and mark the inquiry answered.

    Returns the stored answer and the queued outgoing message (None when nothing reaches the
    client; the employee is then told to call).
    """
    if inquiry.status == InquiryStatus.CLOSED.value:
        raise InquiryError(N_("%(reference)s is closed."), reference=inquiry.reference)
    contact = session.get(Contact, inquiry.contact_id)
    assert contact is not None
    sent = notices.client_answer(session, inquiry=inquiry, contact=contact, employee=author, text=text, now=now)
    message = add_staff_message(
        session,
        inquiry=inquiry,
        author=author,
        direction=Direction.OUT,
        channel=sent.channel if sent else inquiry.channel,
        text=sent_text(sent, text),  # what the client received, signature and all
        via=via,
        now=now,
    )
    mark_answered(session, inquiry=inquiry, actor=Actor.employee(author.key), message_id=message.id, sent=sent, now=now,
                  via=via)  # fmt: skip
    return message, sent
