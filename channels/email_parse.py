"""Parsing a raw e-mail into what the service needs (interim; being replaced by a fuller parser)."""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from channels.base import InboundAttachment


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_name: str | None
    from_address: str | None
    to: tuple[str, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[InboundAttachment, ...]
    auto_submitted: str | None
    defects: tuple[str, ...]


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip("<>") for v in (value or "").split() if v.strip("<>"))


def parse_email(raw: bytes, *, max_attachment_bytes: int = 25 * 1024 * 1024) -> ParsedEmail:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    addrs = getaddresses([str(msg.get("From", ""))])
    name, addr = addrs[0] if addrs else ("", "")
    text, html, attachments = "", None, []
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        if body.get_content_type() == "text/html":
            html, text = content, content
        else:
            text = content
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        attachments.append(InboundAttachment(part.get_filename(), part.get_content_type(), len(data), data))
    date = None
    try:
        date = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError):
        pass
    auto = str(msg.get("Auto-Submitted", "")).strip().lower() or None
    return ParsedEmail(
        message_id=(str(msg.get("Message-ID", "")).strip().strip("<>") or None),
        in_reply_to=_ids(msg.get("In-Reply-To")),
        references=_ids(msg.get("References")),
        from_name=name or None,
        from_address=addr or None,
        to=tuple(a for _, a in getaddresses([str(msg.get("To", "")), str(msg.get("Cc", ""))]) if a),
        subject=" ".join(str(msg.get("Subject", "")).split()),
        date=date,
        text=text.replace("\r\n", "\n").rstrip(),
        html=html,
        attachments=tuple(attachments),
        auto_submitted=None if auto == "no" else auto,
        defects=tuple(str(d) for d in msg.defects),
    )
