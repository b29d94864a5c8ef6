"""The e-mail channel: a stored RFC 5322 message to an inbound message.

Both receivers of mail (the SMTP listener and, later, the IMAP poller) store
receipts of this one channel, so the same message arriving both ways has one
natural id and becomes one message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from channels.base import InboundAttachment, InboundMessage, natural_id_of
from channels.email_auto import read_signs
from channels.email_headers import mend_header_block
from channels.email_parse import parse_email


def header_block(raw: bytes) -> bytes:
    """The start of a raw message up to and with its first empty line (all of it when there is
    none): the standard parser ends the headers there or earlier, so it reads the same headers from
    this as from the whole message, without decoding a body of many megabytes to text."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    return raw[: min(ends) + 3] if ends else raw


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID of a raw message, read leniently from the header block only."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(mend_header_block(header_block(raw)))
        value = headers.get("Message-ID")
    except Exception:  # a header block the parser chokes on has no usable id
        return None
    if not value:
        return None
    value = str(value).strip().strip("<>").strip()
    return value or None


def natural_id(raw: bytes) -> str:
    """Message-ID when there is one, else a hash of the bytes (same bytes, same id)."""
    return natural_id_from(header_block(raw), lambda: hashlib.sha256(raw).hexdigest())


def natural_id_from(head: bytes, sha256: Callable[[], str]) -> str:
    """:func:`natural_id` of a message known by its header block (:func:`header_block`) and the
    SHA-256 of all its bytes, asked for only when there is no Message-ID: a message spooled to disk
    is hashed from the file, never read whole."""
    mid = message_id_of(head)
    if mid:
        return natural_id_of("mid", mid)
    return "sha256:" + sha256()


@dataclass(frozen=True)
class EmailChannel:
    max_attachment_bytes: int = 25 * 1024 * 1024
    # Our own addresses: mail from them is ours coming back, never a client's.
    own_addresses: frozenset[str] = frozenset()
    # Glob patterns of senders whose mail is never an inquiry ([email] never_inquiry_senders).
    never_inquiry_senders: tuple[str, ...] = ()
    name: str = "email"

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        return natural_id(raw)

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> InboundMessage:
        parsed = parse_email(raw, max_attachment_bytes=self.max_attachment_bytes)
        # Only read here: the pipeline's automatic step decides what the signs mean, before it
        # requires a sender, so a bounce without a usable From is filed, not parked.
        signs = read_signs(
            mend_header_block(raw),
            envelope_from=meta.get("envelope_from"),
            from_address=parsed.from_address,
            own_addresses=self.own_addresses,
            never_inquiry=self.never_inquiry_senders,
        )
        # Any usable address: From, then Sender, Reply-To, the envelope's.
        fallbacks = (*(a for _, a in parsed.sender), *(a for _, a in parsed.reply_to), meta.get("envelope_from"))
        sender = parsed.from_address or next((a for a in fallbacks if a), None)
        received_at = datetime.fromisoformat(meta["received_at"])
        # A message that waited in the mailbox (the service was down) counts from its arrival there.
        arrived = meta.get("imap_internaldate")
        if arrived:
            try:
                arrived_at = datetime.fromisoformat(arrived)
            except ValueError:
                arrived_at = None
            if arrived_at is not None and arrived_at.tzinfo is not None and arrived_at < received_at:
                received_at = arrived_at
        # Most specific first: the message answered (for a bounce: the one returned), then the
        # thread from newest to oldest.
        refs = (*signs.bounced_ids, *parsed.in_reply_to, *reversed(parsed.references))
        refers_to = tuple(dict.fromkeys(f"mid:{r}" for r in refs))
        recipients = tuple(dict.fromkeys(a.lower() for a in (*parsed.to, *meta.get("envelope_to", ()))))
        attachments = parsed.attachments
        unreadable = not any(c.isalnum() for c in parsed.text) and not attachments
        if unreadable or any(d.startswith("parser failed") for d in parsed.defects):
            # Nothing readable came out: the original goes along, so a person can open it.
            attachments = (
                *attachments,
                InboundAttachment("original.eml", "message/rfc822", len(raw), raw),
            )
        return InboundMessage(
            channel=self.name,
            external_id=self.natural_id(raw, meta),
            sender_address=sender or "",  # empty: the automatic step files it or refuses it
            sender_name=parsed.from_name,
            subject=parsed.subject,
            text=parsed.text,
            received_at=received_at,
            refers_to=refers_to,
            attachments=attachments,
            recipients=recipients,
            extra={
                "message_id": parsed.message_id,
                "defects": list(parsed.defects),
                "automatic_signs": signs.as_dict(),
                "reply_to": [list(pair) for pair in parsed.reply_to[:1]],
            },
        )
