"""WhatsApp and SMS through Twilio: a stored webhook body to an inbound message.

The receipt's raw bytes are the exact ``application/x-www-form-urlencoded`` body
Twilio POSTed to the inbound webhook (the signature was checked over it before it
was stored). The natural id is the ``MessageSid``, so a webhook Twilio retries is
one message. ``From`` is ``whatsapp:+371...`` on WhatsApp and ``+371...`` on SMS;
both carry the same E.164 number, which is the sender address on both channels,
so one person is one contact whichever way they write.

Media (``NumMedia``, ``MediaUrlN``, ``MediaContentTypeN``) is not downloaded
here (normalising does no I/O): each item becomes an attachment without bytes
that carries its ``fetch_url``; the pipeline queues it for the media fetcher
(``ingest/media_fetch.py``). The list is also in ``extra["media"]``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from channels.base import InboundAttachment, InboundMessage, UnprocessableReceipt

WHATSAPP_PREFIX = "whatsapp:"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# More media items than this in one webhook are not believed (Twilio sends at most 10).
MAX_MEDIA = 20


def parse_form(raw: bytes) -> dict[str, list[str]]:
    """The form fields of a webhook body, every value of each name, in order."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnprocessableReceipt("webhook body is not UTF-8") from None
    fields: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        fields.setdefault(name, []).append(value)
    return fields


def first(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def channel_of(from_value: str) -> str:
    """``whatsapp:+371...`` is WhatsApp; anything else Twilio sends to a messaging webhook is SMS."""
    return "whatsapp" if from_value.lower().startswith(WHATSAPP_PREFIX) else "sms"


def phone_of(address: str) -> str:
    """``whatsapp:+371 2000-0000`` -> ``+37120000000``: the E.164 number, prefix and separators gone."""
    value = address.strip()
    if value.lower().startswith(WHATSAPP_PREFIX):
        value = value[len(WHATSAPP_PREFIX) :]
    value = re.sub(r"[\s().-]", "", value)
    if value.startswith("00"):
        value = "+" + value[2:]
    return value


def is_e164(value: str) -> bool:
    return bool(E164.match(value))


@dataclass(frozen=True)
class TwilioMessagingChannel:
    """One of the two Twilio messaging channels, ``whatsapp`` or ``sms``; the body format is the same."""

    name: str = "sms"

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        try:
            sid = first(parse_form(raw), "MessageSid")
        except UnprocessableReceipt:
            sid = ""
        # The webhook stores nothing without a MessageSid; the hash only keeps replays stable.
        return f"sid:{sid}" if sid else "sha256:" + hashlib.sha256(raw).hexdigest()

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> InboundMessage:
        fields = parse_form(raw)
        sid = first(fields, "MessageSid")
        if not sid:
            raise UnprocessableReceipt("no MessageSid in the webhook body")
        from_value = first(fields, "From")
        if not from_value:
            raise UnprocessableReceipt("no From in the webhook body")
        if channel_of(from_value) != self.name:
            raise UnprocessableReceipt(f"From is not a {self.name} address")
        sender = phone_of(from_value)
        if not is_e164(sender):
            # Alphanumeric sender ids and short codes cannot be answered; kept as they came.
            sender = from_value.strip()
        received_at = datetime.fromisoformat(meta["received_at"])
        media = self._media(fields)
        attachments = tuple(
            InboundAttachment(
                filename=item["url"].rstrip("/").rsplit("/", 1)[-1] or None,
                content_type=item["content_type"] or "application/octet-stream",
                size=0,
                data=None,
                omitted_reason="media not downloaded yet",
                fetch_url=item["url"],
            )
            for item in media
        )
        extra: dict[str, Any] = {
            "message_sid": sid,
            "account_sid": first(fields, "AccountSid"),
            "to": first(fields, "To"),
            "num_media": len(media),
            "media": media,
        }
        if self.name == "whatsapp":
            extra["whatsapp_id"] = first(fields, "WaId") or sender.lstrip("+")
            for name in ("MessageType", "OriginalRepliedMessageSid", "Latitude", "Longitude", "Address", "Label"):
                if first(fields, name):
                    extra[name] = first(fields, name)
        return InboundMessage(
            channel=self.name,
            external_id=self.natural_id(raw, meta),
            sender_address=sender,
            sender_name=first(fields, "ProfileName").strip() or None,
            subject=None,
            text=first(fields, "Body"),
            received_at=received_at,
            # A WhatsApp reply to one of our messages names it: thread on it when we know it.
            refers_to=(f"sid:{first(fields, 'OriginalRepliedMessageSid')}",)
            if first(fields, "OriginalRepliedMessageSid")
            else (),
            attachments=attachments,
            recipients=(phone_of(first(fields, "To")),) if first(fields, "To") else (),
            extra=extra,
        )

    @staticmethod
    def _media(fields: Mapping[str, list[str]]) -> list[dict[str, str]]:
        try:
            count = int(first(fields, "NumMedia") or "0")
        except ValueError:
            raise UnprocessableReceipt("NumMedia is not a number") from None
        count = max(0, min(count, MAX_MEDIA))
        items = []
        for i in range(count):
            url = first(fields, f"MediaUrl{i}")
            if url:
                items.append({"url": url, "content_type": first(fields, f"MediaContentType{i}")})
        return items
