"""Step: a message stored before (the same natural id on the same channel) is not stored again."""

from __future__ import annotations

from ingest.pipeline.arrival import Arrival, Outcome, Step


def run(arrival: Arrival) -> Outcome | None:
    inbound, receipt = arrival.inbound, arrival.receipt
    existing = arrival.batch.stored_message_id(channel=inbound.channel, external_id=inbound.external_id)
    if existing is None:
        return None
    receipt.message_id = existing
    arrival.session.add(receipt)
    return Outcome.DUPLICATE


STEP = Step("dedupe", run)
