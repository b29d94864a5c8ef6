"""Pipeline step: mail to an erased inquiry's reply address, or in reply to our staff mail about it.

Erasure (and the retention job) replaces the inquiry's reply token with a tombstone and our
Message-IDs with their hashes (ingest/privacy/scrub.py), so neither finds the inquiry any more. An
employee may still answer an old notification, quoting the client; left to the other steps, that
reply would open a new inquiry holding the quoted name, address and text again. Recognised here by
the same hashes, it is dropped: its receipt keeps no bytes, and nothing else is stored.
"""

from __future__ import annotations

from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.privacy.scrub import TOKEN_TOMBSTONE, Identifiers, erased_id, scrub_receipt, token_tombstone
from storage import repo
from storage.models import Outbox

# Outbox kinds that went to staff (as ingest/pipeline/staff_reply.py reads them).
STAFF_KINDS = ("staff_", "deadline_")


def run(arrival: Arrival) -> Outcome | None:
    if arrival.inbound.channel != "email":
        return None
    inquiry_id = _erased_inquiry(arrival)
    if inquiry_id is None:
        return None
    receipt = arrival.receipt
    scrub_receipt(receipt, Identifiers(frozenset()), now=arrival.now)
    receipt.meta = {**receipt.meta, "outcome": {"erased_inquiry": inquiry_id}}
    arrival.session.add(receipt)
    return Outcome.AUTOMATIC


def _erased_inquiry(arrival: Arrival) -> int | None:
    """The id of the erased inquiry the mail answers, if it answers one."""
    session = arrival.session
    for token in arrival.office.notices.tokens_in(arrival.inbound.recipients):
        # The tombstone itself, written as a token, is no way in either.
        tombstone = token if token.startswith(TOKEN_TOMBSTONE) else token_tombstone(token)
        inquiry = repo.inquiry_by_token(session, token=tombstone)
        if inquiry is not None:
            return inquiry.id
    hashed = [erased_id(ref) for ref in arrival.inbound.refers_to]
    rows: list[Outbox] = repo.outbox_by_external_ids(session, external_ids=hashed)
    for row in rows:
        if row.inquiry_id is not None and row.kind.startswith(STAFF_KINDS):
            return row.inquiry_id
    return None


STEP = Step("erased inquiry", run)
