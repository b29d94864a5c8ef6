"""Step: the message stored on its inquiry. A follow-up restarts a paused clock (the client
answered) and reopens an answered or closed inquiry."""

from __future__ import annotations

from ingest.inquiries.clock import resume_clock
from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.pipeline.complaint_names import record_names
from ingest.pipeline.messages import add_message
from storage import repo
from storage.models import InquiryStatus


def run(arrival: Arrival) -> Outcome | None:
    inquiry, session, now = arrival.inquiry, arrival.session, arrival.now
    assert inquiry is not None and inquiry.id is not None
    arrival.message = add_message(session, inquiry, arrival.inbound, arrival.receipt, link_receipt=False)
    if not arrival.follow_up:
        return None
    record_names(arrival)
    repo.add_event(
        session,
        inquiry_id=inquiry.id,
        type="message_received",
        at=now,
        # How it was threaded (references, tag, the client's open inquiry within the window).
        data={"message_id": arrival.message.id, "channel": arrival.inbound.channel, "joined": arrival.threading},
    )
    if inquiry.status == InquiryStatus.WAITING_CLIENT.value:
        office = arrival.office
        resume_clock(session, inquiry=inquiry, calendar=office.router.calendar, policy=office.deadline_policy, now=now)
    elif inquiry.status in (InquiryStatus.ANSWERED.value, InquiryStatus.CLOSED.value):
        repo.add_event(session, inquiry_id=inquiry.id, type="reopened", at=now, data={"was": inquiry.status})
        inquiry.status = InquiryStatus.OPEN.value
    inquiry.updated_at = now
    session.add(inquiry)
    return None


STEP = Step("add message", run)
