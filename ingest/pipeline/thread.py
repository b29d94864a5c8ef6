"""Step: the open inquiry the message continues, if any.

By In-Reply-To / References first; SMS, WhatsApp and calls have neither, so a client's next
message (or a repeated missed call) on the same channel joins their open inquiry there, or the
one answered there within the last 24 hours; a
``[GK-2026-000123]`` tag in the subject joins only an inquiry of the same client, because
references are sequential and easy to guess. An inquiry merged into another one hands the
message on to that one.
"""

from __future__ import annotations

from datetime import timedelta

from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.pipeline.contact import PHONE_CHANNELS
from storage import merge_repo, repo
from storage.models import Inquiry

# A text or call soon after an answer ("Jā, der. Paldies!") continues the answered inquiry on that
# channel, as an e-mail reply does: it reopens there, where staff can close a thank-you in one
# click, instead of opening a new inquiry for the coordinator. WhatsApp's own conversation lasts
# as long; later messages open a new inquiry.
ANSWERED_WINDOW = timedelta(hours=24)


def run(arrival: Arrival) -> Outcome | None:
    found = _thread_target(arrival)
    # A merged inquiry's reference and our messages about it still lead to it: the message
    # goes on to the inquiry it was merged into.
    arrival.inquiry = _locked_final(arrival, found) if found is not None else None
    arrival.follow_up = arrival.inquiry is not None
    return None


def _locked_final(arrival: Arrival, found: Inquiry) -> Inquiry:
    """The inquiry the message joins, its row locked until the message is stored (PostgreSQL).

    A merge locks its two rows too, so the message either comes before it (and moves with the
    other messages) or sees it done and goes on to the target; never onto a merged inquiry.
    """
    session = arrival.session
    session.refresh(found, with_for_update=True)
    final = merge_repo.final_inquiry(session, found)
    if final is not found:
        session.refresh(final, with_for_update=True)
    return final


def _thread_target(arrival: Arrival) -> Inquiry | None:
    session, inbound, contact = arrival.session, arrival.inbound, arrival.contact
    assert contact is not None
    inquiry = repo.inquiry_for_references(session, external_ids=inbound.refers_to)
    if inquiry is not None:
        return inquiry
    if inbound.channel in PHONE_CHANNELS and contact.id is not None:
        since = arrival.now - ANSWERED_WINDOW
        return repo.open_inquiry_on_channel(
            session, contact_id=contact.id, channel=inbound.channel, answered_since=since
        )
    match = repo.reference_pattern(arrival.office.reference_prefix).search(inbound.subject or "")
    if match:
        tagged = repo.inquiry_by_reference(session, reference=match.group(1))
        if tagged is not None and tagged.contact_id == contact.id:
            return tagged
    return None


STEP = Step("thread", run)
