"""What the employee is told by e-mail when an inquiry reaches them.

Rendered when queued and stored in the outbox, so a retry sends the same
message with the same Message-ID.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.support import Translations

from channels.email_quote import split_reply
from ingest.i18n import N_
from storage.models import Contact, Inquiry, Message

MAX_QUOTED_CHARS = 20_000


CHANNEL_NAMES = {
    "email": N_("e-mail"),
    "whatsapp": N_("WhatsApp"),
    "sms": N_("SMS"),
    "phone": N_("phone"),
    "visit": N_("visit"),
}
COMPLEXITY = {"complex": N_("complex (2 working days)"), "simple": N_("simple (1 working day)")}
# The subject's first word: what kind of inquiry it is, so a complaint never reads like a question.
KIND_HEADLINES = {
    "question": N_("Question"),
    "request": N_("Request"),
    "complaint": N_("Complaint"),
    "suggestion": N_("Suggestion"),
}
# What the subject keeps of the client's own words, cut at a word boundary.
SUBJECT_WORDS_CHARS = 70


def one_line(value: str | None) -> str:
    """Collapse line breaks and runs of space: client text must never become a header of its own."""
    return " ".join((value or "").split())


def new_message_id(domain: str) -> str:
    return f"{secrets.token_hex(12)}@{domain}"


@dataclass(frozen=True)
class StaffNotice:
    subject: str
    text: str


def local_time(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def aligned(facts: list[tuple[str, str]]) -> list[str]:
    """``label value`` lines with the values lined up after the longest label (in any language)."""
    width = max(len(label) for label, _value in facts) + 1
    return [f"{label:<{width}}{value}" for label, value in facts]


def shortened(text: str, limit: int = SUBJECT_WORDS_CHARS) -> str:
    """``text`` on one line, cut at the last word boundary before ``limit`` with an ellipsis."""
    line = one_line(text)
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
    return cut.rstrip(" ,.;:—-") + "…"


def staff_notice(
    *,
    inquiry: Inquiry,
    contact: Contact,
    message: Message,
    topic_name: str | None,
    tz: ZoneInfo,
    follow_up: bool,
    translations: Translations,
    named: list[str] | None = None,
) -> StaffNotice:
    """The notification in the employee's language (``translations``: their catalog). Its subject
    says what kind of inquiry it is and carries the client's own words, so staff can scan their
    inbox; ``named``: the employees a complaint names, who must never see it."""
    _ = translations.gettext
    due = local_time(inquiry.due_at, tz) if inquiry.due_at else "—"
    kind = _(KIND_HEADLINES.get(inquiry.kind, KIND_HEADLINES["request"]))
    headline = _("Follow-up message from the client") if follow_up else _("New client inquiry")
    words = shortened(message.subject or inquiry.subject or split_reply(message.text)[0]) or topic_name or _("no topic")
    subject = _("[%(reference)s] %(kind)s: %(words)s — answer by %(due)s") % {
        "reference": inquiry.reference, "kind": kind if not follow_up else _("Follow-up"), "words": words, "due": due,
    }  # fmt: skip
    client = contact.name or contact.email or contact.phone or contact.whatsapp_id or _("unknown")
    address = contact.email or contact.phone or contact.whatsapp_id or ""
    text, quoted = split_reply(message.text)
    if quoted:
        text += "\n\n" + _("[… the client's quoted history is left out; the whole message is in the inquiry]")
    if len(text) > MAX_QUOTED_CHARS:
        text = text[:MAX_QUOTED_CHARS] + "\n" + _("[… shortened; the whole text is in the inquiry]")
    facts = [
        (_("Reference:"), inquiry.reference),
        (_("Client:"), one_line(client) + (f" <{address}>" if address and address != client else "")),
        (_("Channel:"), _(CHANNEL_NAMES.get(inquiry.channel, inquiry.channel))),
        (_("Topic:"), topic_name or _("not determined")),
        (_("Complexity:"), _(COMPLEXITY["complex" if inquiry.complexity == "complex" else "simple"])),
        (_("Received:"), local_time(inquiry.received_at, tz)),
        (_("Answer by:"), due),
        (_("Subject:"), one_line(message.subject) or "—"),
    ]
    lines = [
        f"{headline}: {kind.lower()}.",
        *_kind_lines(inquiry.kind, named or [], _),
        "",
        *aligned(facts),
        "",
        _("The client's message:"),
        "-" * 60,
        text,
        "-" * 60,
        "",
        _("To answer the client, reply to this e-mail from your work address: the answer goes to the client"),
        _("from the customer service address, and the inquiry is marked answered."),
        _("The client does not receive the quoted text or your signature."),
        _("A first line #note makes it an internal note (not sent to the client); #close closes it without an answer."),
    ]
    return StaffNotice(subject=one_line(subject), text="\n".join(lines) + "\n")


def _kind_lines(kind: str, named: list[str], _: Callable[[str], str]) -> list[str]:
    """What the kind asks of the reader: a complaint's discretion (policy 13), a suggestion's thanks."""
    if kind == "complaint":
        lines = [_("It is a complaint: it goes to the board member and is never shown to an employee it names.")]
        if named:
            lines.append(_("It names: %(names)s.") % {"names": ", ".join(named)})
        return lines
    if kind == "suggestion":
        return [_("It is a suggestion: thank the client for it in the answer.")]
    return []


def email_payload(
    *,
    from_address: str,
    from_name: str,
    to_address: str,
    to_name: str | None,
    subject: str,
    text: str,
    message_id: str,
    date: datetime,
    in_reply_to: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The outbox payload of an e-mail: everything needed to build the same message again."""
    return {
        "from": [one_line(from_name), from_address],
        "to": [one_line(to_name), to_address],
        "subject": one_line(subject),
        "text": text,
        "message_id": message_id,
        "date": format_datetime(date),
        "in_reply_to": in_reply_to,
        "headers": {k: one_line(v) for k, v in (extra_headers or {}).items()},
    }
