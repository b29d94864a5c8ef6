"""The bytes of a message ``build_email`` made, written without the standard library's generator.

``EmailMessage.as_bytes()`` reads Content-Type back through a header object two or three times and
refolds every header: about a millisecond per notification, as much as everything else the folder
transport does but the disk's sync. ``build_email`` stores its headers as finished ASCII text
(``set_raw``) and its body as quoted-printable text, so the generator's output is known: each header
as stored, then the body with CRLF line ends. Anything else (a header object, a non-ASCII value, a
line the generator would refold, a multipart body) goes to the generator itself.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

_LINE_END = re.compile(r"\r\n|\r|\n")


def message_bytes(message: EmailMessage) -> bytes:
    """``message.as_bytes()``, the same bytes, for a message whose policy writes CRLF."""
    fast = _direct(message)
    return fast if fast is not None else message.as_bytes()


def _direct(message: EmailMessage) -> bytes | None:
    policy = message.policy
    maxlen = getattr(policy, "max_line_length", None)
    if policy.linesep != "\r\n" or getattr(policy, "refold_source", "") != "long" or not maxlen:
        return None
    if getattr(policy, "mangle_from_", True) or getattr(policy, "utf8", False):
        return None
    payload = message._payload  # type: ignore[attr-defined]  # get_payload() would decode it
    if not isinstance(payload, str) or not payload.isascii() or message.is_multipart():
        return None
    out: list[str] = []
    for name, value in message.raw_items():
        if not isinstance(value, str) or hasattr(value, "name") or not (name.isascii() and value.isascii()):
            return None
        lines = value.splitlines()
        if lines and len(lines[0]) + len(name) + 2 > maxlen or any(len(line) > maxlen for line in lines[1:]):
            return None
        out.append(name + ": " + "\r\n".join(lines) + "\r\n")
    out.append("\r\n")
    body = _LINE_END.split(payload) if payload else []
    out.extend(line + "\r\n" for line in body[:-1])
    if body and body[-1]:
        out.append(body[-1])
    return "".join(out).encode("ascii")
