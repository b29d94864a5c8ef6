"""The e-mail channel: a stored RFC 5322 message to an inbound message.

Both receivers of mail (the SMTP listener and, later, the IMAP poller) store
receipts of this one channel, so the same message arriving both ways has one
natural id and becomes one message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from channels.base import InboundMessage, UnprocessableReceipt
from channels.email_parse import parse_email


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID of a raw message, read leniently from the header block only."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        value = headers.get("Message-ID")
    except Exception:  # a header block the parser chokes on has no usable id
        return None
    if not value:
        return None
    value = str(value).strip().strip("<>").strip()
    return value or None


def natural_id(raw: bytes) -> str:
    """Message-ID when there is one, else a hash of the bytes (same bytes, same id)."""
    mid = message_id_of(raw)
    if mid:
        return f"mid:{mid}"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class EmailChannel:
    max_attachment_bytes: int = 25 * 1024 * 1024
    name: str = "email"

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        return natural_id(raw)

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> InboundMessage:
        parsed = parse_email(raw, max_attachment_bytes=self.max_attachment_bytes)
        sender = parsed.from_address or (meta.get("envelope_from") or None)
        if not sender:
            raise UnprocessableReceipt("no sender address: neither a From header nor an envelope sender")
        received_at = datetime.fromisoformat(meta["received_at"])
        # Most specific first: the message answered, then the thread from newest to oldest.
        refs = (*parsed.in_reply_to, *reversed(parsed.references))
        refers_to = tuple(dict.fromkeys(f"mid:{r}" for r in refs))
        return InboundMessage(
            channel=self.name,
            external_id=self.natural_id(raw, meta),
            sender_address=sender,
            sender_name=parsed.from_name,
            subject=parsed.subject,
            text=parsed.text,
            received_at=received_at,
            refers_to=refers_to,
            attachments=parsed.attachments,
            automatic=parsed.auto_submitted,
            extra={"message_id": parsed.message_id, "defects": list(parsed.defects)},
        )
