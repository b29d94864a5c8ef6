"""Step: bounces, auto-replies and mail in the office's own name; never an inquiry, never answered
(RFC 3834), never a note. Mail a machine sent on someone's behalf (web forms, portals) opens an
inquiry that is never acknowledged. What counts as which: ingest/pipeline/automatic_rules.py.

Bounces and auto-replies are kept with the inquiry they refer to as automatic messages (direction
``automatic``, an ``automatic_<kind>`` event): the client's machine wrote them, not the office. A
bounce of our message marks the address undeliverable.

Mail whose ``From`` is one of the office's own addresses is ours only when it is a copy of a
message we sent (its Message-ID is one of our outbox rows): then it is already on record and is
only marked on its receipt. Anything else in the office's name came from outside: it is kept on
its receipt with the reason (``suspicious``) and, when it refers to an inquiry, a
``suspicious_mail`` event there, but it is never filed as a message of the office.
"""

from __future__ import annotations

import dataclasses

from channels.base import UnprocessableReceipt
from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.pipeline.automatic_rules import BOUNCE, OWN, Decision, decide_inbound, person_reply_to
from ingest.pipeline.messages import add_message
from storage import merge_repo, repo
from storage.models import Direction, Inquiry

__all__ = ["NOTE_STEP", "OPEN_AS_INQUIRY", "OWN", "STEP", "SUSPICIOUS_WHY"]

SUSPICIOUS_WHY = "the office's own address as sender, on mail that is no copy of ours: from outside"
# Receipt meta set when staff open an inquiry from kept automatic mail (the dashboard's list):
# who and when; the receipt is processed again and opens an inquiry, never acknowledged.
OPEN_AS_INQUIRY = "open_as_inquiry"


def run(arrival: Arrival) -> Outcome | None:
    """The one decision on automatic mail, before anything needs a sender."""
    decision = decide_inbound(arrival.inbound)
    opened_by = arrival.receipt.meta.get(OPEN_AS_INQUIRY)
    if decision is not None and opened_by and not decision.opens_inquiry:
        decision = dataclasses.replace(decision, opens_inquiry=True)
    if decision is None or decision.opens_inquiry:
        return _as_inquiry(arrival, decision, opened_by)
    return _keep(arrival, decision)


def _as_inquiry(arrival: Arrival, decision: Decision | None, opened_by: object) -> Outcome | None:
    """A person's mail goes on; mail a machine sent for someone goes on too, never acknowledged
    (RFC 3834), filed under the person its Reply-To names."""
    inbound, receipt = arrival.inbound, arrival.receipt
    if decision is not None:
        outcome: dict[str, object] = {"automatic": decision.kind, "why": decision.why, "acknowledge": False}
        reply_to = person_reply_to(inbound)
        if reply_to is not None:
            name, address = reply_to
            arrival.inbound = inbound = dataclasses.replace(
                inbound, sender_address=address, sender_name=name or inbound.sender_name
            )
            outcome["contact"] = "reply-to"
        if opened_by:
            outcome["opened_by"] = opened_by
        if not inbound.sender_address:  # no one to file it under: kept, like a bounce
            return _keep(arrival, dataclasses.replace(decision, opens_inquiry=False))
        arrival.acknowledge = False
        receipt.meta = {**receipt.meta, "outcome": outcome}
        arrival.session.add(receipt)
    if not inbound.sender_address:
        raise UnprocessableReceipt("no sender address: neither a From header nor an envelope sender")
    return None


def _keep(arrival: Arrival, decision: Decision) -> Outcome:
    """Kept on its receipt, or as an automatic message of the inquiry it refers to; never answered."""
    inbound, receipt, session = arrival.inbound, arrival.receipt, arrival.session
    inquiry = repo.inquiry_for_references(session, external_ids=inbound.refers_to)
    if inquiry is not None:
        inquiry = merge_repo.final_inquiry(session, inquiry)  # kept where the conversation went on
    outcome: dict[str, object] = {"automatic": decision.kind, "why": decision.why}
    if inquiry is None and decision.kind != OWN:  # what the workspace's list shows of it
        outcome.update({"from": inbound.sender_address, "subject": (inbound.subject or "")[:300]})
    if decision.kind == OWN:
        return _in_our_name(arrival, inquiry, outcome)
    receipt.meta = {**receipt.meta, "outcome": outcome}
    session.add(receipt)
    if inquiry is None:
        return Outcome.AUTOMATIC
    assert inquiry.id is not None
    message = add_message(session, inquiry, inbound, receipt, direction=Direction.AUTOMATIC.value)
    data: dict[str, object] = {**outcome, "message_id": message.id}
    if decision.kind == BOUNCE:
        data["bounced"] = _mark_undeliverable(arrival)
    repo.add_event(session, inquiry_id=inquiry.id, type=f"automatic_{decision.kind}", at=arrival.now, data=data)
    return Outcome.THREADED


def _in_our_name(arrival: Arrival, inquiry: Inquiry | None, outcome: dict[str, object]) -> Outcome:
    """Our own mail read back is only marked; mail in our name from outside is kept on its receipt
    as suspicious and shown on the inquiry it refers to, never filed as the office's message."""
    session, receipt = arrival.session, arrival.receipt
    copies = repo.outbox_by_external_ids(session, external_ids=[arrival.inbound.external_id])
    if inquiry is None:  # sent to an inquiry's reply address (``klienti+<token>@``)?
        tokens = arrival.office.notices.tokens_in(arrival.inbound.recipients)
        found = next(filter(None, (repo.inquiry_by_token(session, token=t) for t in tokens)), None)
        inquiry = merge_repo.final_inquiry(session, found) if found is not None else None
    if copies:
        outcome["copy_of_outbox"] = copies[0].id
    else:
        outcome["suspicious"] = SUSPICIOUS_WHY
        if inquiry is not None:
            assert inquiry.id is not None
            outcome["inquiry_id"] = inquiry.id
            repo.add_event(session, inquiry_id=inquiry.id, type="suspicious_mail", at=arrival.now,
                           data={"receipt_id": receipt.id, "why": SUSPICIOUS_WHY})  # fmt: skip
    receipt.meta = {**receipt.meta, "outcome": outcome}
    session.add(receipt)
    return Outcome.AUTOMATIC


def note(arrival: Arrival) -> Outcome | None:
    """Once the message is on its inquiry: an ``automatic_mail`` event there says it came from a
    machine, why, and that it is not acknowledged (``ingest explain``, the inquiry's timeline)."""
    outcome = arrival.receipt.meta.get("outcome") or {}
    inquiry, message = arrival.inquiry, arrival.message
    if outcome.get("acknowledge") is False and inquiry is not None and inquiry.id is not None and message is not None:
        data = {**outcome, "message_id": message.id}
        repo.add_event(arrival.session, inquiry_id=inquiry.id, type="automatic_mail", at=arrival.now, data=data)
    return None


def _mark_undeliverable(arrival: Arrival) -> list[dict[str, object]]:
    """The contacts our bounced messages went to can no longer be written to by e-mail."""
    bounced = repo.outbox_by_external_ids(arrival.session, external_ids=arrival.inbound.refers_to)
    for row in bounced:
        contact = repo.find_contact_by_email(arrival.session, email=row.recipient)
        if contact is not None and contact.email_undeliverable_at is None:
            contact.email_undeliverable_at = arrival.now
            arrival.session.add(contact)
    return [{"outbox_id": row.id, "kind": row.kind} for row in bounced]


STEP = Step("automatic mail", run)
NOTE_STEP = Step("automatic mail noted", note)
