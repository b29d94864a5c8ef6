"""Removing a client's personal data from one inquiry while keeping its statistical skeleton.

Shared by the retention job (old closed inquiries) and the GDPR erasure (every inquiry of one
client). What goes: message texts, subjects, senders and names, attachment bytes and file names,
the raw receipts (original e-mails, webhook bodies) and their metadata, outgoing message texts
and the client's address on them, media URLs, and everything in event data that is not an id, a
type, a time or a flag. The reply token becomes a tombstone and our e-mails' Message-IDs their
hashes, so a late staff reply finds the inquiry no more (ingest/privacy/late_replies.py).
What stays, so that reports still add up: the inquiry row (reference,
channel, kind, topic, complexity, employee, received/due/answered times, status), the message,
attachment, outbox and event rows themselves (counts, directions, times), and the event fields
statistics use (``on_time``, ``channel``, ``employee``, ``rule``, ids and timestamps).

The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlmodel import Session

from storage import privacy_repo, repo
from storage.models import Attachment, Contact, Inquiry, Message, OutboxStatus, Receipt, ReceiptStatus

ANONYMISED = "anonymised"
# The event that marks an inquiry as done; the retention job skips inquiries that have it.
ANONYMISED_EVENT = privacy_repo.ANONYMISED_EVENT
# The status of an outgoing message that was still to be sent when its content was removed.
WITHDRAWN = OutboxStatus.WITHDRAWN.value

# Event data keys whose values statistics and the timeline need. Anything else (reasons, error
# texts, routing facts, which may quote the client) is dropped.
SAFE_EVENT_KEYS = frozenset({
    "message_id", "outbox_id", "attachment_id", "media_id", "channel", "topic", "kind", "complexity", "language",
    "on_time", "employee", "rule", "due_at", "old_due_at", "paused_at", "due_at_kept", "was", "alarm",
    "attempts", "status", "error_code", "via", "relayed", "logged_by", "automatic", "from", "to", "reason_code",
    "erasure", "retention", "missed_due_at",
})  # fmt: skip
# Meta keys of a receipt worth keeping once its bytes are gone (times, the receiver's facts).
SAFE_META_KEYS = frozenset({"received_at", "imap_internaldate", "imap_uid", "outcome_kind"})
# A value kept under a safe key: a short token (ids, keys, channel names, kinds), never text with
# spaces, an @ or a + (addresses and numbers are caught below as well).
_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{0,64}$")


@dataclass
class ScrubCounts:
    inquiries: int = 0
    messages: int = 0
    attachments: int = 0
    receipts: int = 0
    outbox: int = 0
    events: int = 0
    media: int = 0
    contacts: int = 0

    def add(self, other: ScrubCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Identifiers:
    """The client's addresses and numbers: what must not survive in ids, recipients or metadata."""

    values: frozenset[str]
    _patterns: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)
    _byte_patterns: tuple[re.Pattern[bytes], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Whole addresses and numbers only: erasing ana@inbox.lv must not touch diana@inbox.lv,
        # nor +37120000001 a longer number that contains it.
        patterns = tuple(_whole(v) for v in sorted(self.values))
        object.__setattr__(self, "_patterns", tuple(re.compile(p) for p in patterns))
        object.__setattr__(self, "_byte_patterns", tuple(re.compile(p.encode()) for p in patterns))

    @classmethod
    def of(cls, contacts: Iterable[Contact], extra: Iterable[str | None] = ()) -> Identifiers:
        found: set[str] = set()
        for contact in contacts:
            for value in (contact.email, contact.phone, contact.whatsapp_id):
                found.update(_variants(value))
        for value in extra:
            found.update(_variants(value))
        return cls(frozenset(found))

    def occur_in(self, text: str | None) -> bool:
        if not text:
            return False
        low = text.lower()
        return any(p.search(low) for p in self._patterns)

    def occur_in_bytes(self, data: bytes | None) -> bool:
        if not data:
            return False
        low = data.lower()
        return any(p.search(low) for p in self._byte_patterns)


def _whole(value: str) -> str:
    """A regex for ``value`` standing on its own: a number not inside a longer number, an address
    not inside a longer address."""
    if value.lstrip("+").isdigit():
        return rf"(?<!\d){re.escape(value)}(?!\d)"
    return rf"(?<![\w.+-]){re.escape(value)}(?![\w-]|\.\w)"


def _variants(value: str | None) -> set[str]:
    """An address as it is written: as stored, without ``whatsapp:`` and ``+``, lower case.

    Numbers are also matched by their digits alone (urlencoded webhook bodies write ``%2B371...``);
    anything shorter than 6 characters would match too much and is left out.
    """
    if not value:
        return set()
    low = value.strip().lower().removeprefix("whatsapp:")
    out = {low}
    digits = low.lstrip("+")
    if digits.isdigit():
        out.add(digits)
    return {v for v in out if len(v) >= 6}


def erased_id(value: str) -> str:
    """An id that named the client (a Message-ID with their address): stays unique, names nobody."""
    return "erased:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


# What an erased inquiry's reply token becomes: never a token again (tokens are 24 hex digits),
# yet a reply to the old one is recognised (ingest/privacy/late_replies.py) and dropped.
TOKEN_TOMBSTONE = "erased-"


def token_tombstone(token: str) -> str:
    """The value that replaces a reply token when its inquiry is anonymised: names nothing, and the
    old token no longer finds the inquiry (a staff reply quoting the client cannot bring it back)."""
    if token.startswith(TOKEN_TOMBSTONE):
        return token
    return TOKEN_TOMBSTONE + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:48]


def safe_event_data(data: dict[str, Any], ids: Identifiers) -> dict[str, Any]:
    """The event fields statistics need, without anything that could name or quote the client."""
    kept: dict[str, Any] = {}
    facts = data.get("facts")
    named = facts.get("employees_named") if isinstance(facts, dict) else None
    if isinstance(named, list):
        # Employee keys, not client data: the complaint rule (ingest/access.py) reads them.
        kept["facts"] = {"employees_named": [k for k in named if isinstance(k, str) and _TOKEN.match(k)]}
    for key, value in data.items():
        if key not in SAFE_EVENT_KEYS:
            continue
        if (
            value is None
            or isinstance(value, (bool, int, float))
            or (isinstance(value, str) and (_TOKEN.match(value) or _is_timestamp(value)) and not ids.occur_in(value))
        ):
            kept[key] = value
    return kept


def _is_timestamp(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def scrub_receipt(receipt: Receipt, ids: Identifiers, *, now: datetime) -> None:
    """Bytes and addresses gone; a receipt not yet processed never will be (there is nothing left)."""
    outcome = receipt.meta.get("outcome") if isinstance(receipt.meta, dict) else None
    meta: dict[str, Any] = {k: v for k, v in receipt.meta.items() if k in SAFE_META_KEYS and not ids.occur_in(str(v))}
    if isinstance(outcome, dict) and isinstance(outcome.get("automatic"), str):
        meta["outcome_kind"] = outcome["automatic"]
    meta["erased"] = True
    receipt.raw = b""
    receipt.meta = meta
    receipt.last_error = None
    if ids.occur_in(receipt.natural_id):
        receipt.natural_id = erased_id(receipt.natural_id)
    if receipt.status != ReceiptStatus.PROCESSED.value:
        receipt.status = ReceiptStatus.PROCESSED.value
        receipt.processed_at = receipt.processed_at or now
    receipt.next_attempt_at = None


def scrub_inquiry(session: Session, inquiry: Inquiry, ids: Identifiers, *, now: datetime, why: str) -> ScrubCounts:
    """Everything personal on one inquiry; marks it with an ``anonymised`` event. ``why``: retention or erasure."""
    assert inquiry.id is not None
    counts = ScrubCounts(inquiries=1)
    inquiry.subject = None
    inquiry.token = token_tombstone(inquiry.token)
    session.add(inquiry)

    messages = privacy_repo.messages_to_scrub(session, inquiry_id=inquiry.id)
    message_ids = [m.id for m in messages if m.id is not None]
    # Senders of this inquiry's messages are identifiers too (a client may write from a second address).
    ids = Identifiers(ids.values | Identifiers.of((), (m.sender for m in messages if m.direction == "in")).values)
    counts.messages += _scrub_messages(session, messages, ids)
    if message_ids:
        attachments = privacy_repo.attachments_to_scrub(session, message_ids=message_ids)
        counts.attachments += _scrub_attachments(session, attachments, why=why)
        attachment_ids = [a.id for a in attachments if a.id is not None]
        if attachment_ids:
            counts.media += _scrub_media_fetches(session, attachment_ids)
        receipt_ids = {m.receipt_id for m in messages if m.receipt_id is not None}
        counts.receipts += _scrub_receipts(session, receipt_ids, message_ids, ids, now=now)
    counts.outbox += _withdraw_outbox(session, inquiry.id, ids, why=why)
    counts.events += _scrub_events(session, inquiry.id, ids)
    repo.add_event(session, inquiry_id=inquiry.id, type=ANONYMISED_EVENT, at=now, data={why: True})
    return counts


def _scrub_messages(session: Session, messages: list[Message], ids: Identifiers) -> int:
    """Texts, subjects and senders gone; ids that name the client replaced. Returns how many."""
    for message in messages:
        message.text = ""
        message.subject = None
        message.sender = ANONYMISED
        message.sender_name = None
        message.refers_to = [erased_id(r) if ids.occur_in(r) else r for r in message.refers_to]
        if ids.occur_in(message.external_id):
            message.external_id = erased_id(message.external_id)
        session.add(message)
    return len(messages)


def _scrub_attachments(session: Session, attachments: list[Attachment], *, why: str) -> int:
    """Bytes, hashes and file names gone, with the reason recorded. Returns how many."""
    reason = "removed by the retention policy" if why == "retention" else "removed on the client's request (erasure)"
    for attachment in attachments:
        attachment.data = None
        attachment.size = 0
        attachment.sha256 = ""  # a hash of the bytes could still confirm what they were
        attachment.filename = None
        attachment.omitted_reason = reason
        session.add(attachment)
    return len(attachments)


def _scrub_media_fetches(session: Session, attachment_ids: list[int]) -> int:
    """The media downloads of these attachments: URLs gone, pending ones never fetched. Returns how many."""
    fetches = privacy_repo.media_fetches_to_scrub(session, attachment_ids=attachment_ids)
    for fetch in fetches:
        fetch.url = ""
        fetch.last_error = None
        if fetch.status != "fetched":
            fetch.status = "erased"  # neither fetched later nor listed as failed
            fetch.next_attempt_at = None
        session.add(fetch)
    return len(fetches)


def _scrub_receipts(
    session: Session, receipt_ids: set[int], message_ids: list[int], ids: Identifiers, *, now: datetime
) -> int:
    """The receipts these messages came from. Returns how many."""
    receipts = privacy_repo.receipts_to_scrub(session, receipt_ids=receipt_ids, message_ids=message_ids)
    for receipt in receipts:
        scrub_receipt(receipt, ids, now=now)
        session.add(receipt)
    return len(receipts)


def _withdraw_outbox(session: Session, inquiry_id: int, ids: Identifiers, *, why: str) -> int:
    """Outgoing messages emptied; those not yet sent are withdrawn. Returns how many."""
    rows = privacy_repo.outbox_to_scrub(session, inquiry_id=inquiry_id)
    for row in rows:
        row.payload = {}
        row.last_error = None
        if row.channel == "email" and row.external_id and not row.external_id.startswith("erased:"):
            # A reply to this message (a staff reply quoting the client, by its In-Reply-To) must
            # find the inquiry no more; late_replies.py still knows it by this hash.
            row.external_id = erased_id(row.external_id)
        if row.kind.startswith("client_") or ids.occur_in(row.recipient):
            row.recipient = ANONYMISED
        if row.status in (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value):
            # Nothing left to send. Not "failed": `ingest doctor` would list it and `retry` send an
            # empty payload; no sender or retry ever takes a "withdrawn" row.
            row.status = WITHDRAWN
            row.next_attempt_at = None
            row.lease_until = None
            row.last_error = f"withdrawn: client data removed ({why})"
        session.add(row)
    return len(rows)


def _scrub_events(session: Session, inquiry_id: int, ids: Identifiers) -> int:
    """Event data cut to what statistics need. Returns how many."""
    events = privacy_repo.events_to_scrub(session, inquiry_id=inquiry_id)
    for event in events:
        event.data = safe_event_data(dict(event.data or {}), ids)
        session.add(event)
    return len(events)


def scrub_contact(session: Session, contact: Contact) -> None:
    """The contact row stays (inquiries point at it); nothing on it names or reaches the person."""
    contact.name = None
    contact.email = None
    contact.phone = None
    contact.whatsapp_id = None
    session.add(contact)
