"""Step: bounces and auto-replies are kept with the inquiry they refer to; never an inquiry,
never answered (RFC 3834). A bounce of our message marks the address undeliverable."""

from __future__ import annotations

from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.pipeline.messages import add_message
from storage import merge_repo, repo


def run(arrival: Arrival) -> Outcome | None:
    inbound, receipt, session = arrival.inbound, arrival.receipt, arrival.session
    if not inbound.automatic:
        return None
    inquiry = repo.inquiry_for_references(session, external_ids=inbound.refers_to)
    if inquiry is not None:
        inquiry = merge_repo.final_inquiry(session, inquiry)  # kept where the conversation went on
    outcome = {"automatic": inbound.automatic, "why": inbound.automatic_why}
    receipt.meta = {**receipt.meta, "outcome": outcome}
    session.add(receipt)
    if inquiry is None:
        return Outcome.AUTOMATIC
    assert inquiry.id is not None
    message = add_message(session, inquiry, inbound, receipt, direction="note")
    data: dict[str, object] = {**outcome, "message_id": message.id}
    if inbound.automatic == "bounce":
        data["bounced"] = _mark_undeliverable(arrival)
    repo.add_event(session, inquiry_id=inquiry.id, type=f"automatic_{inbound.automatic}", at=arrival.now, data=data)
    return Outcome.THREADED


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
