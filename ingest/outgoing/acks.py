"""Whether a new inquiry's acknowledgement goes out: decided per inquiry, not per address.

Every new inquiry gets its own acknowledgement with its own reference (policy 9), on the channel
the inquiry came on (the one the client used last), even the client's second inquiry the same
day. Only loops are held back: never a second acknowledgement for one inquiry, and while a
sender is in a burst (``[client_messages] ack_burst_per_minute`` messages or more within a
minute: two auto-responders answering each other) at most one acknowledgement per address
within ``ack_window_minutes``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from storage import inquiry_repo, repo, thread_repo
from storage.models import Contact, Employee, Inquiry, Outbox

if TYPE_CHECKING:
    from ingest.outgoing.notices import Notices

BURST_SPAN = timedelta(minutes=1)
NO_ROUTE = "no channel to write to (an address that bounced is not used)"


def send_ack(
    notices: Notices,
    session: Session,
    *,
    inquiry: Inquiry,
    contact: Contact,
    employee: Employee,
    now: datetime,
    in_reply_to: str | None,
    opened_now: bool = False,
    contact_new: bool = False,
) -> Outbox | None:
    """The acknowledgement queued, or a ``client_ack_suppressed`` event saying why not."""
    route = notices.reply_route(session, inquiry=inquiry, contact=contact, now=now)
    why = NO_ROUTE if route is None else held_back(
        session, inquiry=inquiry, contact=contact, address=route[1], now=now, window=notices.ack_window,
        burst_per_minute=notices.ack_burst_per_minute, opened_now=opened_now, contact_new=contact_new,
    )  # fmt: skip
    if route is None or why is not None:
        assert inquiry.id is not None
        repo.add_event(session, inquiry_id=inquiry.id, type="client_ack_suppressed", at=now, data={"reason": why})
        return None
    return notices.send_template(session, "ack", route, inquiry=inquiry, contact=contact, employee=employee,
                                 now=now, in_reply_to=in_reply_to)  # fmt: skip


def held_back(
    session: Session,
    *,
    inquiry: Inquiry,
    contact: Contact,
    address: str,
    now: datetime,
    window: timedelta,
    burst_per_minute: int,
    opened_now: bool = False,
    contact_new: bool = False,
) -> str | None:
    """Why no acknowledgement goes to ``address`` for ``inquiry``; None when one goes. An inquiry
    ``opened_now`` (in this transaction) cannot have one yet, and a contact created for this message
    (``contact_new``) has sent one message, less than a burst: those queries are saved."""
    assert inquiry.id is not None
    if not opened_now and thread_repo.acknowledgements_of(session, inquiry_id=inquiry.id):
        return "this inquiry was acknowledged already"
    if contact.id is None or (contact_new and burst_per_minute > 1):
        return None
    # The message being processed is stored already, and counted.
    recent = thread_repo.messages_from_contact(session, contact_id=contact.id, since=now - BURST_SPAN)
    if recent < burst_per_minute:
        return None
    if inquiry_repo.recent_acknowledgements(session, recipient=address, since=now - window):
        return (
            f"a burst of {recent} messages within a minute from this sender (a loop), and an acknowledgement"
            f" went to this address within {window}"
        )
    return None
