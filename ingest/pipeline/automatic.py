"""Step: bounces, auto-replies and mail in the office's own name; never an inquiry, never answered
(RFC 3834), never a note.

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

from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.pipeline.messages import add_message
from storage import merge_repo, repo
from storage.models import Direction, Inquiry

OWN = "own"
SUSPICIOUS_WHY = "the office's own address as sender, on mail that is no copy of ours: from outside"


def run(arrival: Arrival) -> Outcome | None:
    inbound, receipt, session = arrival.inbound, arrival.receipt, arrival.session
    if not inbound.automatic:
        return None
    inquiry = repo.inquiry_for_references(session, external_ids=inbound.refers_to)
    if inquiry is not None:
        inquiry = merge_repo.final_inquiry(session, inquiry)  # kept where the conversation went on
    outcome: dict[str, object] = {"automatic": inbound.automatic, "why": inbound.automatic_why}
    if inbound.automatic == OWN:
        return _in_our_name(arrival, inquiry, outcome)
    receipt.meta = {**receipt.meta, "outcome": outcome}
    session.add(receipt)
    if inquiry is None:
        return Outcome.AUTOMATIC
    assert inquiry.id is not None
    message = add_message(session, inquiry, inbound, receipt, direction=Direction.AUTOMATIC.value)
    data: dict[str, object] = {**outcome, "message_id": message.id}
    if inbound.automatic == "bounce":
        data["bounced"] = _mark_undeliverable(arrival)
    repo.add_event(session, inquiry_id=inquiry.id, type=f"automatic_{inbound.automatic}", at=arrival.now, data=data)
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
