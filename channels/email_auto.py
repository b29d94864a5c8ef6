"""What a message's envelope and headers say about who wrote it: a reading, not a verdict.

The channel only reads the signs (an empty envelope sender, a delivery or read report, RFC 3834
headers, the vendors' auto-reply headers, a mailer-daemon sender, list headers, a sender the office
listed as never an inquiry); what they mean for the message (kept without an inquiry, or an
inquiry that is never acknowledged) is decided in one place, ingest/pipeline/automatic_rules.py,
so the reason recorded is the one that decided. A bounce names the message that could not be
delivered, so the inquiry and the address can be found.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from email import message_from_bytes, policy
from email.message import Message
from fnmatch import fnmatchcase
from typing import Any

_DAEMON_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounces?)([+@-]|$)", re.I)
VENDOR_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-AutoReply-From", "X-Mail-Autoreply")
_MESSAGE_ID = re.compile(r"^Message-ID:\s*<([^>\s]+)>", re.I | re.M)
_MAX_REPORT_BYTES = 512 * 1024


@dataclass(frozen=True)
class Signs:
    """Each sign found, with the header's value as written (lowercased); None or empty: absent."""

    envelope_null: bool = False  # MAIL FROM:<> (RFC 5321 4.5.5)
    own_sender: bool = False  # From is one of the office's own addresses
    report: str | None = None  # multipart/report's report-type ("" when it names none)
    daemon_sender: str | None = None  # a mailer-daemon-like local part of From
    auto_submitted: str | None = None  # RFC 3834, "no" left out
    vendor: str | None = None  # the first vendor auto-reply header present
    suppress: str | None = None  # X-Auto-Response-Suppress (Exchange)
    precedence: str | None = None
    list_header: str | None = None  # List-Id or List-Unsubscribe
    never_inquiry: str | None = None  # the [email] never_inquiry_senders pattern the sender matched
    bounced_ids: tuple[str, ...] = ()  # Message-IDs inside a report or a daemon's message

    def as_dict(self) -> dict[str, Any]:
        """Only the signs present, as JSON: kept on the inbound message's extra."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v}


def read_signs(
    raw: bytes,
    *,
    envelope_from: str | None,
    from_address: str | None,
    own_addresses: frozenset[str],
    never_inquiry: tuple[str, ...] = (),
) -> Signs:
    """The signs of automatic mail in a raw message; unreadable headers show only the envelope's."""
    sender = (from_address or "").lower()
    envelope_null = envelope_from == ""
    listed = next((p for p in never_inquiry if sender and fnmatchcase(sender, p.lower())), None)
    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
    except Exception:  # noqa: BLE001 - unreadable mail shows what the envelope says
        return Signs(envelope_null=envelope_null, never_inquiry=listed)
    content_type = msg.get_content_type()
    report = None
    if content_type == "multipart/report":
        report = str(msg.get_param("report-type", "", header="content-type") or "").lower()
    local = sender.partition("@")[0]
    daemon = local if _DAEMON_SENDERS.match(local) else None
    suppress = _value(msg, "X-Auto-Response-Suppress")
    return Signs(
        envelope_null=envelope_null,
        own_sender=bool(sender) and sender in own_addresses,
        report=report,
        daemon_sender=daemon,
        auto_submitted=_auto_submitted(msg),
        vendor=next((name for name in VENDOR_HEADERS if msg.get(name) is not None), None),
        suppress=suppress if suppress and suppress != "none" else None,
        precedence=_value(msg, "Precedence"),
        list_header=next((name for name in ("List-Id", "List-Unsubscribe") if msg.get(name)), None),
        never_inquiry=listed,
        bounced_ids=_bounced_ids(msg) if report is not None or daemon or envelope_null else (),
    )


def _value(msg: Message, name: str) -> str | None:
    value = str(msg.get(name, "") or "").strip().lower()
    return value or None


def _auto_submitted(msg: Message) -> str | None:
    value = _value(msg, "Auto-Submitted")
    if value is None or value.split(";")[0].strip() == "no":
        return None
    return value


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
