"""What the employee is told by e-mail when an inquiry reaches them.

Rendered when queued and stored in the outbox, so a retry sends the same
message with the same Message-ID.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from channels.email_quote import split_reply
from storage.models import Contact, Inquiry, Message

CHANNEL_NAMES_LV = {
    "email": "e-pasts",
    "whatsapp": "WhatsApp",
    "sms": "īsziņa",
    "phone": "tālrunis",
    "visit": "klātiene",
}

MAX_QUOTED_CHARS = 20_000


COMPLEXITY_LV = {"complex": "sarežģīts (2 darba dienas)", "simple": "vienkāršs (1 darba diena)"}


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


def staff_notice(
    *,
    inquiry: Inquiry,
    contact: Contact,
    message: Message,
    topic_name: str | None,
    tz: ZoneInfo,
    follow_up: bool,
) -> StaffNotice:
    due = local_time(inquiry.due_at, tz) if inquiry.due_at else "—"
    headline = "Klienta papildu ziņa" if follow_up else "Jauns klienta pieprasījums"
    subject = one_line(f"[{inquiry.reference}] {headline}: {topic_name or 'bez tēmas'} — atbildēt līdz {due}")
    client = contact.name or contact.email or contact.phone or contact.whatsapp_id or "nezināms"
    address = contact.email or contact.phone or contact.whatsapp_id or ""
    text, quoted = split_reply(message.text)
    if quoted:
        text += "\n\n[… klienta citētā vēsture izlaista; pilnā ziņa ir pieprasījumā]"
    if len(text) > MAX_QUOTED_CHARS:
        text = text[:MAX_QUOTED_CHARS] + "\n[… saīsināts; pilns teksts pieprasījumā]"
    lines = [
        f"{headline}.",
        "",
        f"Numurs:      {inquiry.reference}",
        f"Klients:     {one_line(client)}" + (f" <{address}>" if address and address != client else ""),
        f"Kanāls:      {CHANNEL_NAMES_LV.get(inquiry.channel, inquiry.channel)}",
        f"Tēma:        {topic_name or 'nav noteikta'}",
        f"Sarežģītība: {COMPLEXITY_LV['complex' if inquiry.complexity == 'complex' else 'simple']}",
        f"Saņemts:     {local_time(inquiry.received_at, tz)}",
        f"Atbildēt līdz: {due}",
        "",
        f"Temats: {one_line(message.subject) or '—'}",
        "",
        "Klienta ziņa:",
        "-" * 60,
        text,
        "-" * 60,
        "",
        "Lai atbildētu klientam, atbildiet uz šo vēstuli (no savas darba adreses): atbilde tiks nosūtīta",
        "klientam no klientu apkalpošanas adreses, un pieprasījums tiks atzīmēts kā atbildēts.",
        "Citātu un parakstu klients nesaņems.",
        "Pirmajā rindā #piezīme — iekšēja piezīme (klientam netiek sūtīta); #slēgt — slēgt bez atbildes klientam.",
    ]
    return StaffNotice(subject=subject, text="\n".join(lines) + "\n")


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
