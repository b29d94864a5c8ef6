"""Step: staff answer by replying to a notification (its Reply-To token or Message-ID).

From the responsible employee, the reply is the answer: sent on to the client without the
quoted history, and the inquiry is marked answered. From anyone else it is kept as an internal
note, never shown to the client, and its author is told why. A first line ``#piezīme`` (also
``#note``, ``#заметка``) makes any staff reply an internal note; ``#slēgt`` (``#close``,
``#закрыть``) closes the inquiry without an answer to the client.
"""

from __future__ import annotations

from sqlmodel import Session

from channels.email_quote import split_reply
from ingest.api.auth import Principal
from ingest.inquiries.access import Action, can_act
from ingest.inquiries.answering import mark_answered
from ingest.inquiries.closing import close
from ingest.outgoing.notices import sent_text
from ingest.outgoing.staff_texts import not_relayed_notice
from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.pipeline.messages import add_message
from storage import merge_repo, repo
from storage.models import Contact, Employee, Inquiry, InquiryStatus
from storage.staff_models import Role

# Outbox kinds that went to staff: a reply to one of them is a staff reply.
STAFF_KINDS = ("staff_", "deadline_")

# A first line that is one of these makes a reply a command instead of an answer to the client.
COMMANDS = {
    "#piezīme": "note", "#piezime": "note", "#note": "note", "#заметка": "note",
    "#slēgt": "close", "#slegt": "close", "#close": "close", "#закрыть": "close",
}  # fmt: skip


def email_command(text: str) -> tuple[str | None, str]:
    """The command on the reply's first non-empty line (``#piezīme``, ``#slēgt`` …) and the rest
    of the text; (None, text) when the reply is an answer."""
    lines = text.strip().splitlines()
    parts = lines[0].split(maxsplit=1) if lines else []
    word = parts[0].lower() if parts else ""
    if word not in COMMANDS:
        return None, text
    rest = parts[1].strip() if len(parts) > 1 else ""
    body = "\n".join(([rest] if rest else []) + lines[1:]).strip()
    return COMMANDS[word], body


def _command(arrival: Arrival, inquiry: Inquiry, author: Employee, command: str, text: str) -> Outcome:
    """``#piezīme``: kept as an internal note. ``#slēgt``: closed without an answer to the client
    (by whom the API would let close it), the rest of the text kept as a note."""
    session, now = arrival.session, arrival.now
    assert inquiry.id is not None
    message = add_message(session, inquiry, arrival.inbound, arrival.receipt, direction="note", text=text)
    repo.add_event(session, inquiry_id=inquiry.id, type="note_added", at=now, actor=author.key,
                   data={"message_id": message.id, "via": "email", "command": command})  # fmt: skip
    if command == "close" and inquiry.status != InquiryStatus.CLOSED.value and _may_close(session, author, inquiry):
        close(session, inquiry=inquiry, reason="no_answer_needed", actor=author.key, now=now)
    return Outcome.NOTE


def _may_close(session: Session, author: Employee, inquiry: Inquiry) -> bool:
    """The rule of the API and the dashboard (ingest/inquiries/access.py), for the reply's author."""
    try:
        role = Role(author.role)
    except ValueError:
        role = Role.EMPLOYEE  # an unknown value grants the least
    assert author.id is not None
    principal = Principal(employee_id=author.id, key=author.key, role=role, token_id=0, remote_addr=None)
    return can_act(session, principal, inquiry, Action.CLOSE)


def run(arrival: Arrival) -> Outcome | None:
    replied = _replied_inquiry(arrival)
    # A reply about an inquiry that was merged since goes to the one it was merged into.
    inquiry = merge_repo.final_inquiry(arrival.session, replied) if replied is not None else None
    if inquiry is None:
        return None
    assert inquiry.id is not None
    session, now = arrival.session, arrival.now
    author = repo.employee_by_email(session, email=arrival.inbound.sender_address)
    new_text, _quoted = split_reply(arrival.inbound.text)
    command, new_text = email_command(new_text)
    if command is not None and author is not None:
        return _command(arrival, inquiry, author, command, new_text)
    responsible = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
    is_answer = author is not None and responsible is not None and author.id == responsible.id
    arrival.queued = True
    if not is_answer:
        note = add_message(session, inquiry, arrival.inbound, arrival.receipt, direction="note", text=new_text)
        _keep_as_note(arrival, inquiry, author, responsible, message_id=note.id)
        return Outcome.NOTE
    assert author is not None
    contact = session.get(Contact, inquiry.contact_id)
    assert contact is not None
    sent = arrival.office.notices.client_answer(
        session, inquiry=inquiry, contact=contact, employee=author, text=new_text, now=now
    )
    # Kept as the client received it (signed), so the timeline shows what they saw.
    message = add_message(
        session, inquiry, arrival.inbound, arrival.receipt, direction="out", text=sent_text(sent, new_text)
    )
    mark_answered(session, inquiry=inquiry, actor=author.key, message_id=message.id, sent=sent, now=now, via="email")
    return Outcome.ANSWERED


def _replied_inquiry(arrival: Arrival) -> Inquiry | None:
    """The inquiry a reply to one of our staff messages belongs to."""
    inbound, session = arrival.inbound, arrival.session
    if inbound.channel != "email":
        return None
    for token in arrival.office.notices.tokens_in(inbound.recipients):
        inquiry = repo.inquiry_by_token(session, token=token)
        if inquiry is not None:
            return inquiry
    for row in repo.outbox_by_external_ids(session, external_ids=inbound.refers_to):
        if row.inquiry_id is not None and row.kind.startswith(STAFF_KINDS):
            return session.get(Inquiry, row.inquiry_id)
    return None


def _keep_as_note(
    arrival: Arrival, inquiry: Inquiry, author: Employee | None, responsible: Employee | None, *, message_id: int | None
) -> None:
    assert inquiry.id is not None
    why = (
        f"atbildēt klientam var tikai atbildīgais darbinieks ({responsible.name} {responsible.surname})"
        if responsible
        else "pieprasījumam nav atbildīgā darbinieka"
    )
    repo.add_event(
        arrival.session,
        inquiry_id=inquiry.id,
        type="note_added",
        at=arrival.now,
        actor=author.key if author else "unknown-sender",
        data={"message_id": message_id, "relayed": False, "why": why},
    )
    tell = author or responsible
    if tell is None:
        return
    notices = arrival.office.notices
    notice = not_relayed_notice(inquiry.reference, responsible, notices.translations_for(tell))
    notices.staff_message(arrival.session, kind="staff_reply_not_relayed", inquiry=inquiry, employee=tell,
                          subject=notice.subject, text=notice.text, now=arrival.now)  # fmt: skip


STEP = Step("staff reply", run)
