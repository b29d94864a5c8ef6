"""The one decision on automatic mail: what the signs the channel read mean, and why.

Kept without an inquiry, never answered (RFC 3834): our own mail, delivery reports (bounces),
read receipts, auto-replies, anything with an empty envelope sender (RFC 5321 4.5.5: the null
reverse-path is for reports and automatic replies, whatever the From says), and senders the office
listed as never an inquiry (newsletters it subscribed to). Mail that a machine sent on someone's
behalf (web forms, portals, other systems' notifications: ``Auto-Submitted: auto-generated``,
``Precedence: bulk``, list headers, ``X-Auto-Response-Suppress``) is a client's matter: it opens
an inquiry like any other, but is never acknowledged automatically. The first rule that applies
gives the reason; the kind is what ``/metrics`` counts by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.base import InboundMessage

OWN = "own"
BOUNCE = "bounce"
READ_RECEIPT = "read-receipt"
AUTO_REPLY = "auto-reply"
NEVER_INQUIRY = "never-inquiry"
GENERATED = "generated"
LIST = "list"
STAFF = "opened-by-staff"
# Precedence values that mean an automatic reply rather than mail sent to many.
_REPLY_PRECEDENCE = frozenset({"auto_reply", "auto-reply"})
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


@dataclass(frozen=True)
class Decision:
    kind: str
    why: str
    # True: an inquiry is opened, never acknowledged; False: kept on its receipt (or as an
    # automatic message of the inquiry it refers to).
    opens_inquiry: bool = False


def decide(
    signs: Mapping[str, Any], *, channel_kind: str | None = None, channel_why: str | None = None
) -> Decision | None:
    """None for mail a person wrote. ``signs`` as channels/email_auto.py reads them; other
    channels (WhatsApp notices, calls) name their automatic messages themselves."""
    kept = _kept(signs)
    if kept is not None:
        return kept
    if channel_kind:
        return Decision(channel_kind, channel_why or channel_kind)
    return _on_behalf(signs)


def _kept(signs: Mapping[str, Any]) -> Decision | None:
    if signs.get("own_sender"):
        return Decision(OWN, "sent from our own address")
    report = signs.get("report")
    if report is not None:
        if report == "disposition-notification":
            return Decision(READ_RECEIPT, "read receipt (multipart/report; report-type=disposition-notification)")
        return Decision(BOUNCE, f"delivery report (multipart/report; report-type={report or 'none'})")
    if signs.get("daemon_sender"):
        return Decision(BOUNCE, f"sent by {signs['daemon_sender']}")
    auto = str(signs.get("auto_submitted") or "").split(";")[0].strip()
    if auto and auto != "auto-generated":
        return Decision(AUTO_REPLY, f"Auto-Submitted: {auto}")
    if signs.get("vendor"):
        return Decision(AUTO_REPLY, f"{signs['vendor']} header")
    if signs.get("precedence") in _REPLY_PRECEDENCE:
        return Decision(AUTO_REPLY, f"Precedence: {signs['precedence']}")
    if signs.get("envelope_null"):
        return Decision(AUTO_REPLY, "empty envelope sender (MAIL FROM:<>)")
    if signs.get("never_inquiry"):
        return Decision(NEVER_INQUIRY, f"sender listed in [email] never_inquiry_senders ({signs['never_inquiry']})")
    return None


def _on_behalf(signs: Mapping[str, Any]) -> Decision | None:
    if signs.get("auto_submitted"):
        return Decision(GENERATED, f"Auto-Submitted: {signs['auto_submitted']}", opens_inquiry=True)
    if signs.get("suppress"):
        return Decision(GENERATED, f"X-Auto-Response-Suppress: {signs['suppress']}", opens_inquiry=True)
    if signs.get("precedence") in _BULK_PRECEDENCE:
        return Decision(LIST, f"Precedence: {signs['precedence']}", opens_inquiry=True)
    if signs.get("list_header"):
        return Decision(LIST, f"{signs['list_header']} header", opens_inquiry=True)
    return None


# Reply-To local parts that are a machine's, not a person's: the form's own address, a bounce box.
_NOT_A_PERSON = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|noreply|mailer-daemon|postmaster|bounces?|notifications?|"
    r"automailer|auto[-_.]?reply|daemon|system)([+._-]|$)",
    re.I,
)


def decide_inbound(inbound: InboundMessage) -> Decision | None:
    """:func:`decide` on a normalised message: the e-mail channel's signs, or another channel's own naming."""
    signs = inbound.extra.get("automatic_signs") or {}
    return decide(signs, channel_kind=inbound.automatic, channel_why=inbound.automatic_why)


def person_reply_to(inbound: InboundMessage) -> tuple[str, str] | None:
    """(name, address) of the Reply-To when it is a person's, not noreply-like; else None."""
    pairs = inbound.extra.get("reply_to") or []
    if not pairs:
        return None
    name, address = str(pairs[0][0] or ""), str(pairs[0][1] or "")
    if not address or _NOT_A_PERSON.match(address.partition("@")[0]):
        return None
    return name, address
