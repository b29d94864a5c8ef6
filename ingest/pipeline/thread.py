"""Step: the open inquiry the message continues, if any.

By In-Reply-To / References first; a ``[GK-2026-000123]`` tag in the subject joins only an
inquiry of the same client, because references are sequential and easy to guess. Otherwise the
client's open inquiry, on any channel, within ``[threading] cross_channel_hours`` of working
time (ingest/pipeline/joining.py): a text or call soon after an answer ("Jā, der. Paldies!")
reopens the answered inquiry, where staff can close a thank-you in one click, instead of opening
a new inquiry for the coordinator. A message clearly about another topic opens a new inquiry
linked to the open one (:data:`LINK_STEP`, after the new inquiry exists). An inquiry merged into
another one hands the message on to that one. How the message was threaded is kept for the
``message_received`` event (ingest/pipeline/add_message.py).
"""

from __future__ import annotations

from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.pipeline.joining import client_inquiry
from storage import merge_repo, repo
from storage.models import Inquiry


def run(arrival: Arrival) -> Outcome | None:
    found = _thread_target(arrival)
    # A merged inquiry's reference and our messages about it still lead to it: the message
    # goes on to the inquiry it was merged into.
    arrival.inquiry = _locked_final(arrival, found) if found is not None else None
    arrival.follow_up = arrival.inquiry is not None
    return None


def _locked_final(arrival: Arrival, found: Inquiry) -> Inquiry:
    """The inquiry the message joins, its row locked until the message is stored
    (storage/merge_repo.py): never a merged inquiry, even when the merge was just committed."""
    return merge_repo.locked_final(arrival.session, found)


def _thread_target(arrival: Arrival) -> Inquiry | None:
    session, inbound, contact = arrival.session, arrival.inbound, arrival.contact
    assert contact is not None
    inquiry = repo.inquiry_for_references(session, external_ids=inbound.refers_to)
    if inquiry is not None:
        arrival.threading = {"rule": "references"}
        return inquiry
    match = repo.reference_pattern(arrival.office.reference_prefix).search(inbound.subject or "")
    if match:
        tagged = repo.inquiry_by_reference(session, reference=match.group(1))
        if tagged is not None and tagged.contact_id == contact.id:
            arrival.threading = {"rule": "reference_tag", "reference": tagged.reference}
            return tagged
    joined = client_inquiry(arrival)
    if joined is None:
        return None
    if joined.split:
        arrival.split_from, arrival.threading = joined.inquiry, joined.facts
        return None
    arrival.threading = joined.facts
    return joined.inquiry


def link(arrival: Arrival) -> Outcome | None:
    """The new inquiry of a message clearly about another topic, and the open one, point at each
    other: an event on both, with the reason."""
    other, inquiry, facts = arrival.split_from, arrival.inquiry, arrival.threading or {}
    if other is None or inquiry is None or arrival.follow_up:
        return None
    assert other.id is not None and inquiry.id is not None
    repo.add_event(arrival.session, inquiry_id=inquiry.id, type="split_from", at=arrival.now,
                   data={**facts, "inquiry_id": other.id, "reference": other.reference})  # fmt: skip
    repo.add_event(arrival.session, inquiry_id=other.id, type="split_to", at=arrival.now,
                   data={**facts, "inquiry_id": inquiry.id, "reference": inquiry.reference})  # fmt: skip
    return None


STEP = Step("thread", run)
LINK_STEP = Step("link split", link)
