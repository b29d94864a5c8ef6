"""What the pipeline's steps share: the office they work for, and one message on its way in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlmodel import Session

from channels.base import InboundMessage
from ingest.outgoing.notices import Notices
from ingest.pipeline.batch import Batch
from ingest.pipeline.staff_proof import StaffProof
from router.deadlines import DeadlinePolicy
from router.route import Router
from router.understand import Understanding
from storage.models import Contact, Inquiry, Message, Receipt


class Outcome(StrEnum):
    NEW_INQUIRY = "new_inquiry"
    THREADED = "threaded"
    DUPLICATE = "duplicate"
    AUTOMATIC = "automatic"  # an auto-reply or bounce that belongs to no inquiry
    ANSWERED = "answered"  # the responsible employee's reply, sent on to the client
    NOTE = "note"  # a reply from someone else: kept as an internal note
    # A reply through an erased inquiry's or an expired reply address: filed nowhere.
    REFUSED = "refused"
    SKIPPED = "skipped"  # already processed by another worker
    PARKED = "parked"


@dataclass(frozen=True)
class Office:
    """What the steps need from the service: the router, what is told to whom, the clock's rules."""

    router: Router
    notices: Notices
    tz: ZoneInfo
    reference_prefix: str
    deadline_policy: DeadlinePolicy
    # What proves a reply to a notification is the employee's; the default proves nothing.
    staff_proof: StaffProof = StaffProof()
    # [threading] cross_channel_hours: working time within which a client's next message on any
    # channel joins their open (or just answered) inquiry.
    cross_channel: timedelta = timedelta(hours=8)


@dataclass
class Arrival:
    """One receipt being processed, inside its transaction; steps fill in what they find."""

    session: Session
    receipt: Receipt
    inbound: InboundMessage
    now: datetime
    office: Office
    # What the receipts of this batch share: routing's view of the office, reference numbers.
    batch: Batch
    # The router's reading of the text, when it was read while preparing the receipt
    # (ingest/pipeline/prepare.py); None: read when the message is routed.
    understanding: Understanding | None = None
    contact: Contact | None = None
    # The contact is new or got its name from this message: its name is compared with other
    # clients' names once, then (ingest/pipeline/link_suggest.py).
    contact_named: bool = False
    # The contact was created for this message: it has sent nothing else (no burst to look for).
    contact_new: bool = False
    inquiry: Inquiry | None = None
    # True when the message joins an inquiry that existed before it.
    follow_up: bool = False
    message: Message | None = None
    # How the message was threaded (the rule and its facts), for the event that records it.
    threading: dict[str, object] | None = None
    # The client's open inquiry the message was clearly not about: the new one links to it.
    split_from: Inquiry | None = None
    # Set when the step queued outgoing messages, so the sender is woken after the commit.
    queued: bool = False
    # False for mail a machine sent (web forms, portals): never acknowledged (RFC 3834).
    acknowledge: bool = True


@dataclass(frozen=True)
class Step:
    """A named step: returns an Outcome when it decides what became of the message, None to go on."""

    name: str
    run: Callable[[Arrival], Outcome | None]
