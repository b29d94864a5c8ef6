"""Recognising mail that no person wrote: bounces, auto-replies, list mail, our own mail.

Such mail never opens an inquiry and never gets an acknowledgement (that is how
two auto-responders keep each other busy for ever). A bounce names the message
that could not be delivered, so the inquiry and the address can be found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message

_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounces?)([+@-]|$)", re.I)
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-AutoReply-From", "X-Mail-Autoreply")
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_MESSAGE_ID = re.compile(r"^Message-ID:\s*<([^>\s]+)>", re.I | re.M)
_MAX_REPORT_BYTES = 512 * 1024


@dataclass(frozen=True)
class Automatic:
    kind: str  # bounce, auto-reply, list, own
    why: str
    # For a bounce: the Message-IDs of the message(s) that were not delivered.
    bounced_ids: tuple[str, ...] = ()


def classify(
    raw: bytes, *, envelope_from: str | None, from_address: str | None, own_addresses: frozenset[str]
) -> Automatic | None:
    """None for mail a person wrote; otherwise what kind of automatic mail it is, and why."""
    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
    except Exception:  # noqa: BLE001 - unreadable mail is for a person to look at
        return None
    sender = (from_address or "").lower()
    if sender and sender in own_addresses:
        return Automatic("own", "sent from our own address")
    content_type = msg.get_content_type()
    report = msg.get_param("report-type", header="content-type") if content_type == "multipart/report" else None
    local = sender.partition("@")[0]
    if content_type == "multipart/report" or envelope_from == "" and _BOUNCE_SENDERS.match(local or ""):
        return Automatic("bounce", f"delivery report ({report or content_type})", _bounced_ids(msg))
    if _BOUNCE_SENDERS.match(local or ""):
        return Automatic("bounce", f"sent by {local}", _bounced_ids(msg))
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return Automatic("auto-reply", f"Auto-Submitted: {auto.split(';')[0]}")
    if envelope_from == "":
        # RFC 5321 4.5.5 and RFC 3834: the null reverse-path is for delivery reports and automatic
        # replies, whatever the From says ("System Administrator", "Symantec_AntiVirus", ...).
        return Automatic("auto-reply", "empty envelope sender (MAIL FROM:<>)")
    for name in _AUTO_HEADERS:
        if msg.get(name) is not None:
            return Automatic("auto-reply", f"{name} header")
    suppress = str(msg.get("X-Auto-Response-Suppress", "")).lower()
    if suppress and any(v in suppress for v in ("all", "oof", "autoreply")):
        return Automatic("auto-reply", "X-Auto-Response-Suppress header (automatic Exchange mail)")
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return Automatic("auto-reply" if "auto" in precedence else "list", f"Precedence: {precedence}")
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return Automatic("list", "mailing-list headers")
    return None


def _bounced_ids(msg: Message) -> tuple[str, ...]:
    """Message-IDs inside the returned message or its headers (message/rfc822, text/rfc822-headers)."""
    found: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                found.append(str(inner.get("Message-ID")).strip().strip("<>"))
        elif ctype in ("text/rfc822-headers", "text/plain") and part is not msg:
            # decode=True gives the bytes of a leaf part (None for a multipart one).
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            text = data[:_MAX_REPORT_BYTES].decode("utf-8", "replace")
            found.extend(_MESSAGE_ID.findall(text))
    return tuple(dict.fromkeys(i for i in found if i))
