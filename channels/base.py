"""The one interface every channel implements, and the message it produces.

A *receiver* (SMTP listener, IMAP poller, webhook) only stores what it got as a
receipt. A *channel* turns a stored receipt into an :class:`InboundMessage`:
a pure function of the raw bytes and the receiver's metadata, with no I/O, so
the same receipt always normalises the same way and can be replayed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class InboundAttachment:
    filename: str | None
    content_type: str
    size: int
    data: bytes | None  # None when omitted; omitted_reason then says why
    omitted_reason: str | None = None
    # Where the bytes are to be downloaded from later (Twilio media): never fetched while normalising.
    fetch_url: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A client's message, the same shape whatever channel brought it."""

    channel: str  # email, whatsapp, sms, phone, visit
    external_id: str  # the channel's natural id, the deduplication key
    sender_address: str  # e-mail address, E.164 number, WhatsApp id
    sender_name: str | None
    subject: str | None
    text: str
    received_at: datetime
    # Ids of earlier messages this one answers (In-Reply-To, References).
    refers_to: tuple[str, ...] = ()
    attachments: tuple[InboundAttachment, ...] = ()
    # Automatic mail (bounce, auto-reply, list, own) never opens an inquiry; why says what gave it away.
    automatic: str | None = None
    automatic_why: str | None = None
    # Every address the message was sent to (To, Cc, envelope): replies carry an inquiry's token here.
    recipients: tuple[str, ...] = ()
    language_hint: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class UnprocessableReceipt(Exception):
    """The receipt can never become a message as it is (a fact about the input).

    Distinct from an unexpected failure (a bug, the database): both park the
    receipt, but this one is the sender's problem and is logged as such.
    """


class Channel(Protocol):
    """Normalises one channel's stored receipts."""

    # Read-only, so that a frozen dataclass's ``name`` field satisfies it (a plain ``name: str``
    # member would ask for a settable attribute, which no channel is).
    @property
    def name(self) -> str:
        """The adapter's name: a receipt picks the channel that normalises it by this."""
        ...

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        """The id that identifies this message across redeliveries."""
        ...

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> InboundMessage:
        """Turn a stored receipt into an inbound message; raise UnprocessableReceipt if it cannot."""
        ...


# The receipts table's natural_id column holds this many characters.
MAX_NATURAL_ID = 998


def natural_id_of(prefix: str, value: str) -> str:
    """``prefix:value`` as a storable dedup key; a value with control characters or too long for
    the column (a broken or hostile sender) is replaced by its hash, which still deduplicates."""
    key = f"{prefix}:{value}"
    if len(key) <= MAX_NATURAL_ID and value.isprintable():
        return key
    return f"{prefix}-sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
