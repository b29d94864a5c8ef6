"""Walking a mail's MIME structure: its leaf parts, their types, names and charsets, and their content as bytes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import Message
from typing import Any

from channels.email_charset import ParseState, clean, repair_8bit
from channels.email_words import decode_words

# Nesting deeper than this is an attack or a loop, not a client's letter.
_MAX_DEPTH = 40
_SIGNATURE_TYPES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@dataclass
class Leaf:
    part: Message
    content_type: str
    disposition: str | None
    filename: str | None
    parent: str  # content type of the enclosing multipart, "" at the top


def _compat_view(part: Message, hint: str | None = None) -> Message:
    """The part's headers in a compat32 message, whose parameter parsing never raises on odd values.

    Raw 8-bit bytes are decoded first: compat32 would otherwise turn them into U+FFFD.
    """
    view = Message(policy=policy.compat32)
    try:
        for key, value in part.raw_items():
            view[key] = repair_8bit(str(value), hint)
    except Exception:
        pass
    return view


def _content_type(part: Message, view: Message) -> str:
    raw = view.get("content-type")
    if raw is None:
        try:
            return part.get_default_type()
        except Exception:
            return "text/plain"
    main = str(raw).split(";")[0].strip().lower()
    kind, slash, sub = main.partition("/")
    if kind == "text" and not sub:
        # "text" alone: a type without its subtype; MIME's default subtype is plain.
        return "text/plain"
    if not slash or not _TOKEN.match(kind) or not _TOKEN.match(sub):
        # "BINARY", "" and other non-types: the content is unknown, so treat it as opaque data.
        return "application/octet-stream"
    return main


def _param_filename(view: Message, state: ParseState) -> str | None:
    try:
        name = view.get_filename()
    except Exception:
        state.note("attachment file name unreadable")
        return None
    if name is None:
        return None
    name = clean(str(name), state)
    if "=?" in name:
        # Outlook and others put encoded-words inside the quoted filename parameter.
        name = decode_words(name)
    # A sender's directory ("C:\TEMP\x.png") is no part of the file's name and must not reach a path.
    name = re.split(r"[\\/]", name)[-1].strip()
    return name or None


def _disposition(view: Message) -> str | None:
    raw = view.get("content-disposition")
    if raw is None:
        return None
    return str(raw).split(";")[0].strip().lower() or None


def walk_leaves(msg: Message, state: ParseState) -> Iterator[Leaf]:
    """Every non-container part in order; an attached message is one leaf, not opened."""
    stack: list[tuple[Message, int, str]] = [(msg, 0, "")]
    while stack:
        part, depth, parent = stack.pop()
        view = _compat_view(part, state.header_hint)
        ctype = _content_type(part, view)
        try:
            payload = part.get_payload()
        except Exception:
            payload = None
        if ctype.startswith("multipart/") and isinstance(payload, list):
            if depth >= _MAX_DEPTH:
                state.note("parts nested too deeply; the innermost were ignored")
                continue
            children = [(p, depth + 1, ctype) for p in payload if isinstance(p, Message)]
            stack.extend(reversed(children))
            continue
        if ctype.startswith("multipart/"):
            # A multipart without a usable boundary: its body is all there is to read.
            state.note(f"{ctype} without parts (missing or wrong boundary), read as text")
            ctype = "text/plain"
        yield Leaf(part, ctype, _disposition(view), _param_filename(view, state), parent)


def part_charset(part: Message) -> str | None:
    try:
        value = _compat_view(part).get_content_charset()
    except Exception:
        return None
    return str(value) if value else None


def payload_bytes(part: Message, state: ParseState, where: str) -> bytes:
    """The part's content with its transfer encoding undone; raw bytes when that fails."""
    try:
        payload = part.get_payload()
        if isinstance(payload, list):
            return _container_bytes(part, payload, state, where)
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            return data
    except Exception:
        pass
    state.note(f"{where}: content could not be decoded, kept as received")
    try:
        raw = part.get_payload()
        return str(raw).encode("ascii", "surrogateescape") if not isinstance(raw, bytes) else raw
    except Exception:
        return b""


def _container_bytes(part: Message, payload: list[Any], state: ParseState, where: str) -> bytes:
    """Content of a message/* part the parser opened into sub-messages."""
    if part.get_content_type() in ("message/rfc822", "message/global"):
        return _message_bytes(payload[0] if payload else Message(), state, where)
    # message/delivery-status and the like hold several header blocks: keep them all, as sent.
    whole = _message_bytes(part, state, where)
    for separator in (b"\r\n\r\n", b"\n\n"):
        _, found, body = whole.partition(separator)
        if found:
            return body
    return whole


def _message_bytes(inner: Message, state: ParseState, where: str) -> bytes:
    try:
        # compat32 writes the headers back exactly as received instead of refolding them.
        return inner.as_bytes(policy=policy.compat32)
    except Exception:
        state.note(f"{where}: attached message could not be written back exactly")
        try:
            return inner.as_string(policy=policy.compat32).encode("utf-8", "surrogateescape")
        except Exception:
            return b""


def is_body_candidate(leaf: Leaf, subtype: str) -> bool:
    return leaf.content_type == f"text/{subtype}" and leaf.disposition != "attachment" and leaf.filename is None


def is_named_inline_text(leaf: Leaf) -> bool:
    """Plain text shown inline that carries a file name: the body when no text came before it.

    Some programs send the letter itself that way (Content-Disposition: inline; filename=...).
    """
    return leaf.content_type == "text/plain" and leaf.disposition == "inline" and leaf.filename is not None


def is_attachment(leaf: Leaf) -> bool:
    if leaf.disposition == "attachment" or leaf.filename is not None:
        return True
    if leaf.content_type in ("text/plain", "text/html"):
        return False
    if leaf.content_type == "text/calendar":
        # A meeting invitation's alternative is no other rendering of the text: it is the invitation.
        return True
    if leaf.content_type.startswith("text/"):
        # text/enriched beside text/plain is another rendering of the body; text/calendar on its own is content.
        return leaf.parent != "multipart/alternative"
    return True


def is_signature(leaf: Leaf) -> bool:
    """The detached signature of a signed message: proof for machines, noise for staff."""
    return leaf.parent == "multipart/signed" and leaf.content_type in _SIGNATURE_TYPES
