"""Parsing a raw e-mail into what the service needs.

Clients write from every kind of mail program, some decades old, and a message
that cannot be read must still become an inquiry a person can look at. So
:func:`parse_email` never raises: every header and every part is read inside
its own guard, falls back to a more lenient reading when the strict one fails,
and the problem is noted in ``defects`` for whoever inspects the message later.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser

from channels.base import InboundAttachment
from channels.email_calendar import calendar_summary
from channels.email_charset import ParseState, codec_for, decode_text
from channels.email_headers import (
    addresses,
    auto_submitted,
    collapse,
    describe_defect,
    header_date,
    mend_header_block,
    message_ids,
    raw_header,
    unstructured,
)
from channels.email_mime import (
    Leaf,
    is_attachment,
    is_body_candidate,
    is_named_inline_text,
    is_signature,
    part_charset,
    payload_bytes,
    walk_leaves,
)
from channels.email_policy import READING
from channels.email_uuencode import guess_type, split_uuencoded
from channels.html_text import html_to_text


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None  # without angle brackets; None when absent or empty
    in_reply_to: tuple[str, ...]  # ids without angle brackets
    references: tuple[str, ...]  # ids without angle brackets, oldest first as sent
    from_name: str | None  # decoded display name
    from_address: str | None  # local part as written, domain lowercased; None when unusable
    to: tuple[str, ...]  # addr-specs from To and Cc, normalised like from_address
    subject: str  # decoded, whitespace collapsed, "" when none
    date: datetime | None  # aware; None when absent or unparseable
    text: str  # what a person reads: the plain text, or the HTML made readable
    html: str | None  # the HTML body as sent (decoded), when there was one
    attachments: tuple[InboundAttachment, ...]
    auto_submitted: str | None  # Auto-Submitted lowercased; None when absent or "no"
    defects: tuple[str, ...]  # short notes on what was wrong with the message, for inspection
    # (display name, address) of Reply-To and Sender, usable addresses only: who to answer when a
    # machine wrote From (web forms), and a sender to file under when From is unusable.
    reply_to: tuple[tuple[str, str], ...] = ()
    sender: tuple[tuple[str, str], ...] = ()


def _normalise_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


def _attachment(filename: str | None, content_type: str, data: bytes, limit: int) -> InboundAttachment:
    if len(data) > limit:
        return InboundAttachment(filename, content_type, len(data), None, f"larger than the limit of {limit} bytes")
    return InboundAttachment(filename, content_type, len(data), data)


@dataclass
class _Body:
    texts: list[str] = field(default_factory=list)
    html: str | None = None
    attachments: list[InboundAttachment] = field(default_factory=list)


def _collect(msg: Message, state: ParseState, limit: int) -> _Body:
    leaves = list(walk_leaves(msg, state))
    first_html = next((leaf for leaf in leaves if is_body_candidate(leaf, "html")), None)
    # A named inline text part is the body only as the first text of all (not after an HTML body).
    first_text = next((leaf for leaf in leaves if leaf.content_type in ("text/plain", "text/html")), None)
    body = _Body()
    if first_html is not None:
        body.html = decode_text(
            payload_bytes(first_html.part, state, "HTML body"), part_charset(first_html.part), state, "HTML body"
        )
    for index, leaf in enumerate(leaves):
        where = f"part {index + 1} ({leaf.content_type})"
        if is_body_candidate(leaf, "plain") or (leaf is first_text and is_named_inline_text(leaf)):
            text = decode_text(payload_bytes(leaf.part, state, where), part_charset(leaf.part), state, where)
            text, files = split_uuencoded(_normalise_text(text))
            # Blank lines opening a part only widen the gap between joined parts.
            body.texts.append(re.sub(r"^(?:[ \t]*\n)+", "", text))
            body.attachments.extend(_attachment(n, guess_type(n), d, limit) for n, d in files)
        elif leaf is not first_html and is_attachment(leaf) and not is_signature(leaf):
            body.attachments.append(_file(leaf, state, where, limit))
    if not any(t.strip() for t in body.texts) and body.html is not None:
        # No plain text worth reading (none, or an empty alternative some programs add): the HTML says it.
        body.texts = [html_to_text(body.html)]
    if not any(t.strip() for t in body.texts):
        # An invitation sent as nothing but its calendar: what, when and where is the text.
        calendars = (a.data for a in body.attachments if a.content_type == "text/calendar" and a.data)
        summary = next((text for text in map(calendar_summary, calendars) if text), None)
        if summary:
            body.texts = [summary]
    return body


def _file(leaf: Leaf, state: ParseState, where: str, limit: int) -> InboundAttachment:
    data = payload_bytes(leaf.part, state, where)
    if leaf.content_type in ("message/rfc822", "message/global"):
        return _attachment(leaf.filename or "message.eml", leaf.content_type, data, limit)
    if leaf.content_type == "text/calendar":
        return _attachment(leaf.filename or "invitation.ics", leaf.content_type, data, limit)
    return _attachment(leaf.filename, leaf.content_type, data, limit)


def _load(raw: bytes, state: ParseState) -> Message:
    mended = mend_header_block(raw)
    if mended is not raw:
        state.note("header lines without their leading blank read as continuations")
        raw = mended
    try:
        return email.message_from_bytes(raw, policy=READING)
    except Exception as exc:  # deep nesting can exhaust the recursive parser
        state.note(f"message structure unreadable ({type(exc).__name__}); headers and raw body only")
    try:
        msg = BytesHeaderParser(policy=READING).parsebytes(raw)
        if "content-type" in msg:
            del msg["content-type"]
        return msg
    except Exception:
        return Message(policy=READING)


def _parser_defects(msg: Message, state: ParseState) -> None:
    try:
        for part in msg.walk():
            for defect in getattr(part, "defects", ()):
                state.note(describe_defect(defect))
    except Exception:
        pass


def _header_hint(msg: Message) -> str | None:
    """The first real 8-bit charset declared anywhere, used to read raw 8-bit headers."""
    try:
        for index, part in enumerate(msg.walk()):
            if index > 50:
                break
            codec = codec_for(part_charset(part))
            if codec and codec not in ("ascii", "utf-8"):
                return codec
    except Exception:
        pass
    return None


def parse_email(raw: bytes, *, max_attachment_bytes: int = 25 * 1024 * 1024) -> ParsedEmail:
    """Everything the service reads from a raw message; never raises for any input bytes."""
    try:
        return _parse(raw, max_attachment_bytes)
    except Exception as exc:
        # Every step is guarded on its own; this is the net under a bug in those guards, so
        # that one strange message parks as an empty inquiry instead of stopping the intake.
        return ParsedEmail(
            None,
            (),
            (),
            None,
            None,
            (),
            "",
            None,
            "",
            None,
            (),
            None,
            (f"parser failed: {type(exc).__name__}: {exc}"[:300],),
        )


def _parse(raw: bytes, max_attachment_bytes: int) -> ParsedEmail:
    state = ParseState()
    msg = _load(bytes(raw), state)
    state.header_hint = _header_hint(msg)
    senders = [(n, a) for n, a in addresses(msg, "From", state) if a] or addresses(msg, "From", state)
    from_name, from_address = senders[0] if senders else ("", None)
    recipients = addresses(msg, "To", state) + addresses(msg, "Cc", state)
    body = _collect(msg, state, max_attachment_bytes)
    _parser_defects(msg, state)
    return ParsedEmail(
        message_id=(message_ids(raw_header(msg, "Message-ID")) or (None,))[0],
        in_reply_to=message_ids(raw_header(msg, "In-Reply-To")),
        references=message_ids(raw_header(msg, "References")),
        from_name=collapse(from_name) or None,
        from_address=from_address,
        to=tuple(dict.fromkeys(a for _, a in recipients if a)),
        subject=collapse(unstructured(msg, "Subject", state) or ""),
        date=header_date(msg, state),
        text=_normalise_text("\n\n".join(t for t in body.texts if t.strip())),
        html=body.html,
        attachments=tuple(body.attachments),
        auto_submitted=auto_submitted(msg),
        defects=tuple(state.defects),
        reply_to=tuple((collapse(n), a) for n, a in addresses(msg, "Reply-To", state) if a),
        sender=tuple((collapse(n), a) for n, a in addresses(msg, "Sender", state) if a),
    )
