"""Step: a message stored before (the same natural id on the same channel) is not stored again."""

from __future__ import annotations

from ingest.pipeline.arrival import Arrival, Outcome, Step
from storage import repo


def run(arrival: Arrival) -> Outcome | None:
    inbound, receipt = arrival.inbound, arrival.receipt
    existing = repo.message_by_external_id(arrival.session, channel=inbound.channel, external_id=inbound.external_id)
    if existing is None:
        return None
    receipt.message_id = existing.id
    arrival.session.add(receipt)
    return Outcome.DUPLICATE


STEP = Step("dedupe", run)
