"""Step: staff answer by replying to a notification (its Reply-To token or Message-ID).

From the responsible employee, proven to be theirs (ingest/pipeline/staff_proof.py: a DKIM
signature, the office's mail server's Authentication-Results, or their own authenticated session
on the submission port; ``From`` alone proves nothing),
the reply is the answer: sent on to the client without the quoted history, and the inquiry is
marked answered. Anything else is kept as an internal note, never shown to the client, and its
author is told why. A first line ``#piezīme`` (also ``#note``, ``#заметка``) makes any staff
reply an internal note; ``#slēgt`` (``#close``, ``#закрыть``) closes the inquiry without an
answer to the client, when proven and from someone the notification went to (or the responsible
employee).

A reply address (and a notification's Message-ID) stops working ``token_grace`` after its
inquiry was closed, and at once when the inquiry was erased or anonymised: such a reply is filed
nowhere (its receipt says why) and the employee who sent it is told.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from channels.email_quote import split_reply
from ingest.api.auth import Principal
from ingest.inquiries import note_doubt
from ingest.inquiries.access import Action, can_act
from ingest.inquiries.answering import mark_answered
from ingest.inquiries.closing import close
from ingest.outgoing.notices import sent_text
from ingest.outgoing.staff_texts import not_relayed_notice
from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.pipeline.messages import add_message
from ingest.pipeline.staff_proof import proven_by
from storage import merge_repo, repo, staff_reply_repo
from storage.actors import UNKNOWN_SENDER, Actor
from storage.models import Contact, Employee, Inquiry, InquiryStatus
from storage.staff_models import Role

# Outbox kinds that went to staff: a reply to one of them is a staff reply.
STAFF_KINDS = ("staff_", "deadline_")
# The notice that a reply was not sent on: it goes to whoever sent the reply, so a reply to it
# still belongs to the inquiry but binds nobody to it (being told so makes nobody a recipient
# of the inquiry's notifications).
NOT_RELAYED = "staff_reply_not_relayed"
UNBINDING_KINDS = (NOT_RELAYED,)

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


@dataclass(frozen=True)
class Reply:
    """A staff reply and what it may do."""

    inquiry: Inquiry  # the one the conversation goes on in (after merges)
    author: Employee | None  # the employee its From names, proven or not
    proof: str | None  # the proof that holds (staff_proof.PROOFS), None: unproven
    bound: bool  # the author was sent this inquiry's notification, or is its responsible employee


def actor_of(reply: Reply) -> Actor:
    """The employee, when the reply is proven theirs and they were sent this inquiry's
    notification (or are its responsible employee); otherwise only the sender its From names, so
    that no access rule takes it for the employee's doing (storage/actors.py): a colleague holding
    a forwarded reply address gains no access by a proven note."""
    if reply.author is None:
        return Actor.sender(UNKNOWN_SENDER)
    if reply.proof is not None and reply.bound:
        return Actor.employee(reply.author.key)
    return Actor.sender(reply.author.key)


def doubt(reply: Reply) -> str | None:
    """Why a reply kept as a note may not be its named author's own words, for the inquiry page's
    mark (``reason`` of the ``note_added`` event); None when it is proven theirs."""
    if reply.author is None:
        return note_doubt.UNKNOWN_SENDER
    if reply.proof is None:
        return note_doubt.UNVERIFIED
    return None if reply.bound else note_doubt.NOT_YOURS


def _command(arrival: Arrival, reply: Reply, command: str, text: str) -> Outcome:
    """``#piezīme``: kept as an internal note. ``#slēgt``: closed without an answer to the client
    (when proven, by whom the notification went to and the API would let close it), the rest of
    the text kept as a note."""
    session, now, inquiry, author = arrival.session, arrival.now, reply.inquiry, reply.author
    assert inquiry.id is not None and author is not None
    message = add_message(session, inquiry, arrival.inbound, arrival.receipt, direction="note", text=text)
    data = {"message_id": message.id, "via": "email", "command": command, "proof": reply.proof, "reason": doubt(reply)}
    repo.add_event(session, inquiry_id=inquiry.id, type="note_added", at=now, actor=actor_of(reply), data=data)
    if command != "close" or inquiry.status == InquiryStatus.CLOSED.value:
        return Outcome.NOTE
    if reply.proof is None or not reply.bound:
        _tell(arrival, inquiry, author, reason="unverified" if reply.proof is None else "not_yours", closing=True)
    elif _may_close(session, author, inquiry):
        close(session, inquiry=inquiry, reason="no_answer_needed", actor=Actor.employee(author.key), now=now)
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
    found = _replied_inquiry(arrival)
    if found is None:
        return None
    replied, sent_to = found
    # A reply about an inquiry that was merged since goes to the one it was merged into.
    inquiry = merge_repo.final_inquiry(arrival.session, replied)
    assert inquiry.id is not None and replied.id is not None
    session, now = arrival.session, arrival.now
    author = repo.employee_by_email(session, email=arrival.inbound.sender_address)
    dead = _dead(arrival, [replied.id, inquiry.id], inquiry)
    if dead is not None:
        return _refuse(arrival, inquiry, author, dead)
    proof = None
    if author is not None:
        receipt = arrival.receipt
        proof = proven_by(receipt.raw, arrival.inbound.sender_address, arrival.office.staff_proof,
                          source=receipt.source, meta=receipt.meta, author=author.key)  # fmt: skip
    bound = author is not None and (author.id == inquiry.employee_id or author.email.lower() in sent_to)
    reply = Reply(inquiry=inquiry, author=author, proof=proof, bound=bound)
    new_text, _quoted = split_reply(arrival.inbound.text)
    command, new_text = email_command(new_text)
    arrival.queued = True
    if command is not None and author is not None:
        return _command(arrival, reply, command, new_text)
    responsible = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
    is_responsible = author is not None and responsible is not None and author.id == responsible.id
    if not is_responsible or proof is None:
        note = add_message(session, inquiry, arrival.inbound, arrival.receipt, direction="note", text=new_text)
        reason = "unverified" if is_responsible else None
        _keep_as_note(arrival, reply, responsible, message_id=note.id, reason=reason)
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
    mark_answered(session, inquiry=inquiry, actor=Actor.employee(author.key), message_id=message.id, sent=sent,
                  now=now, via="email")  # fmt: skip
    return Outcome.ANSWERED


def _replied_inquiry(arrival: Arrival) -> tuple[Inquiry, set[str]] | None:
    """The inquiry a reply to one of our staff messages belongs to, and the addresses (lower case)
    the staff messages it answers went to: all of the inquiry's for its reply address, the one
    message's for a Message-ID; never a "not sent on" notice's (UNBINDING_KINDS)."""
    inbound, session = arrival.inbound, arrival.session
    if inbound.channel != "email":
        return None
    for token in arrival.office.notices.tokens_in(inbound.recipients):
        inquiry = repo.inquiry_by_token(session, token=token)
        if inquiry is not None and inquiry.id is not None:
            sent_to = staff_reply_repo.staff_recipients(
                session, inquiry_ids=[inquiry.id], kinds=STAFF_KINDS, excluding=UNBINDING_KINDS
            )
            return inquiry, sent_to
    for row in repo.outbox_by_external_ids(session, external_ids=inbound.refers_to):
        if row.inquiry_id is not None and row.kind.startswith(STAFF_KINDS):
            replied = session.get(Inquiry, row.inquiry_id)
            if replied is not None:
                return replied, set() if row.kind in UNBINDING_KINDS else {row.recipient.lower()}
    return None


def _dead(arrival: Arrival, inquiry_ids: list[int], inquiry: Inquiry) -> str | None:
    """Why the inquiry's reply address no longer works: ``erased`` (anonymised), ``expired``
    (closed longer ago than the grace period); None while it works."""
    session = arrival.session
    if staff_reply_repo.is_anonymised(session, inquiry_ids=inquiry_ids):
        return "erased"
    if inquiry.status != InquiryStatus.CLOSED.value:
        return None
    assert inquiry.id is not None
    closed_at = staff_reply_repo.last_closed_at(session, inquiry_id=inquiry.id) or inquiry.updated_at
    return "expired" if closed_at + arrival.office.staff_proof.token_grace < arrival.now else None


def _refuse(arrival: Arrival, inquiry: Inquiry, author: Employee | None, why: str) -> Outcome:
    """A reply through a reply address that no longer works: filed nowhere, its receipt says why,
    and the employee its From names is told (at their own address, so a forger learns nothing)."""
    session, receipt = arrival.session, arrival.receipt
    assert inquiry.id is not None
    receipt.meta = {**receipt.meta, "outcome": {"staff_reply_refused": why, "inquiry_id": inquiry.id}}
    session.add(receipt)
    if why != "erased":  # an erased inquiry gets nothing new, not even an event
        # Refused before any proof is looked at: the name is only what From says.
        actor = Actor.sender(author.key if author else UNKNOWN_SENDER)
        repo.add_event(session, inquiry_id=inquiry.id, type="staff_reply_refused", at=arrival.now, actor=actor,
                       data={"why": why, "receipt_id": receipt.id})  # fmt: skip
    if author is not None:
        arrival.queued = True
        _tell(arrival, inquiry, author, reason=why, kept=False)
    return Outcome.REFUSED


# Why a reply was kept as a note, for the inquiry's timeline (in Latvian, like the rest of its data).
WHY_NOTE = {
    "unverified": "nav pierādīts, ka atbilde ir no darbinieka"
    " (ne DKIM paraksta, ne biroja pasta servera apstiprinājuma)",
}


def _keep_as_note(
    arrival: Arrival, reply: Reply, responsible: Employee | None, *, message_id: int | None, reason: str | None
) -> None:
    inquiry, author = reply.inquiry, reply.author
    assert inquiry.id is not None
    if reason is not None:
        why = WHY_NOTE[reason]
    elif responsible is not None:
        why = f"atbildēt klientam var tikai atbildīgais darbinieks ({responsible.name} {responsible.surname})"
    else:
        why = "pieprasījumam nav atbildīgā darbinieka"
    repo.add_event(
        arrival.session,
        inquiry_id=inquiry.id,
        type="note_added",
        at=arrival.now,
        actor=actor_of(reply),
        data={"message_id": message_id, "relayed": False, "why": why, "proof": reply.proof, "reason": doubt(reply)},
    )
    tell = author or responsible
    if tell is not None:
        _tell(arrival, inquiry, tell, reason=reason, responsible=responsible)


def _tell(
    arrival: Arrival,
    inquiry: Inquiry,
    employee: Employee,
    *,
    reason: str | None,
    responsible: Employee | None = None,
    closing: bool = False,
    kept: bool = True,
) -> None:
    """The employee is told by e-mail that their reply was not sent on (or did not close), and why."""
    notices = arrival.office.notices
    days = arrival.office.staff_proof.token_grace.days
    notice = not_relayed_notice(inquiry.reference, responsible, notices.translations_for(employee),
                                reason=reason, days=days, closing=closing, kept=kept)  # fmt: skip
    notices.staff_message(arrival.session, kind=NOT_RELAYED, inquiry=inquiry, employee=employee,
                          subject=notice.subject, text=notice.text, now=arrival.now)  # fmt: skip


STEP = Step("staff reply", run)
