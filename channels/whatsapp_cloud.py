"""WhatsApp through Meta's WhatsApp Cloud API: webhook bodies to inbound messages.

One signed webhook POST can carry several messages and delivery statuses
(``entry[].changes[].value.messages[]`` / ``.statuses[]``). The receiver
(``ingest/webhooks_whatsapp_cloud.py``) splits it with :func:`split_webhook`:
each message becomes a receipt of its own, whose raw bytes are a small
canonical JSON document (:func:`message_document`) holding that message, its
``contacts`` entry (profile name, wa_id) and the business number's metadata. The
natural id is ``wamid:<message id>``, so a body Meta delivers again stores
nothing new, and a receipt replays the same way whatever else its POST carried.

The adapter's ``name`` is ``whatsapp_cloud`` (a receipt picks its adapter by it),
but the message's ``channel`` is ``whatsapp`` and its sender the E.164 number
(``+`` + wa_id): a client is one contact and one open inquiry whether they wrote
to the Twilio WhatsApp number, the Cloud API number or by SMS.

Media is NOT downloaded: the webhook carries only a media id, and fetching it
needs a Graph API call with the business's access token (not implemented). Each
item becomes an attachment without bytes whose ``omitted_reason`` names the
media id; no ``fetch_url`` is set (the media fetcher only knows Twilio URLs).

Reactions, system notices (number or identity changed) and deleted-message
notices are kept as *automatic* messages: never an inquiry of their own, kept
with the inquiry of the message they refer to when it is known, and on their
receipt otherwise. Nothing is dropped: every other type becomes text, an
unknown one as ``[WhatsApp message of type …]``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from channels.base import InboundAttachment, InboundMessage, UnprocessableReceipt, natural_id_of

CHANNEL_NAME = "whatsapp_cloud"
BUSINESS_OBJECT = "whatsapp_business_account"
DOCUMENT_VERSION = 1
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
# Message types that are no client writing to the office: kept, never an inquiry of their own.
AUTOMATIC_TYPES = {"reaction": "whatsapp-reaction", "system": "whatsapp-system", "revoke": "whatsapp-revoke",
                   "request_welcome": "whatsapp-welcome"}  # fmt: skip
WA_ID = re.compile(r"^[1-9]\d{6,14}$")
# A sender that is not a number (a future username id) is kept as it came, up to the column's size.
MAX_SENDER = 32


class InvalidWebhook(ValueError):
    """The body is not a WhatsApp Cloud API webhook (not JSON, or not the documented shape)."""


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery status of a message the business sent (sent, delivered, read, failed)."""

    message_id: str
    status: str
    error_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebhookContent:
    object_type: str
    # One canonical document per inbound message, in the order of the body.
    messages: tuple[bytes, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    # Changes of other fields (account, template updates, echoes): their names, for the log.
    other_fields: tuple[str, ...] = ()
    # Error codes Meta reported on a change as a whole (value.errors).
    error_codes: tuple[str, ...] = ()


def _list_of_dicts(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidWebhook(f"{where} is not a list of objects")
    return value


def _object(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _array(value: Any) -> list[Any]:
    """The value when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def _codes(errors: Any) -> tuple[str, ...]:
    if not isinstance(errors, list):
        return ()
    return tuple(str(e.get("code", "?"))[:16] for e in errors if isinstance(e, dict))


# Meta's webhook bodies nest about eight levels deep; far deeper nesting is no webhook, and
# Python's parser (or a later json.dumps) would run out of stack on it.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", body)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def split_webhook(body: bytes) -> WebhookContent:
    """The messages (as receipt documents), statuses and other changes of one webhook body."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise InvalidWebhook(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidWebhook("the body is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidWebhook("the body is not a JSON object")
    object_type = str(document.get("object", ""))
    messages: list[bytes] = []
    statuses: list[StatusUpdate] = []
    other: list[str] = []
    error_codes: list[str] = []
    for entry in _list_of_dicts(document.get("entry"), "entry"):
        for change in _list_of_dicts(entry.get("changes"), "entry[].changes"):
            field_name = str(change.get("field", ""))
            value = change.get("value")
            if not isinstance(value, dict):
                raise InvalidWebhook("entry[].changes[].value is not an object")
            if field_name != "messages":
                other.append(field_name[:64] or "?")
                continue
            metadata = _object(value.get("metadata"))
            contacts = _list_of_dicts(value.get("contacts"), "value.contacts")
            for message in _list_of_dicts(value.get("messages"), "value.messages"):
                messages.append(
                    message_document(
                        message, _contact_of(message, contacts), metadata, account=str(entry.get("id", ""))
                    )
                )
            for status in _list_of_dicts(value.get("statuses"), "value.statuses"):
                statuses.append(
                    StatusUpdate(
                        message_id=str(status.get("id", "")),
                        status=str(status.get("status", "")).lower()[:32],
                        error_codes=_codes(status.get("errors")),
                    )
                )
            error_codes.extend(_codes(value.get("errors")))
    return WebhookContent(
        object_type=object_type,
        messages=tuple(messages),
        statuses=tuple(statuses),
        other_fields=tuple(other),
        error_codes=tuple(error_codes),
    )


def _contact_of(message: Mapping[str, Any], contacts: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The ``contacts`` entry of the message's sender: by wa_id, or the only one there is."""
    sender = str(message.get("from", ""))
    for contact in contacts:
        if sender and str(contact.get("wa_id", "")) == sender:
            return contact
    return contacts[0] if len(contacts) == 1 else None


def message_document(
    message: Mapping[str, Any], contact: Mapping[str, Any] | None, metadata: Mapping[str, Any], *, account: str = ""
) -> bytes:
    """The receipt of one message: canonical JSON (sorted keys, no spaces), the same bytes on every retry."""
    profile = contact.get("profile") if contact else None
    document = {
        "version": DOCUMENT_VERSION,
        "business_account_id": account,
        "metadata": {
            "phone_number_id": str(metadata.get("phone_number_id", "")),
            "display_phone_number": str(metadata.get("display_phone_number", "")),
        },
        "contact": {
            "wa_id": str(contact.get("wa_id", "")),
            "profile_name": str(profile.get("name", "")) if isinstance(profile, dict) else "",
        }
        if contact
        else None,
        "message": message,
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _load(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise UnprocessableReceipt("the receipt is not a JSON document") from None
    if not isinstance(document, dict) or not isinstance(document.get("message"), dict):
        raise UnprocessableReceipt("the receipt holds no WhatsApp message")
    return document


@dataclass
class _Content:
    """What one message says, in the shape the inbound message needs."""

    text: str
    attachments: list[InboundAttachment] = field(default_factory=list)
    media: list[dict[str, str]] = field(default_factory=list)
    refers_to: list[str] = field(default_factory=list)


def _media(kind: str, item: Mapping[str, Any], content: _Content) -> None:
    media_id = str(item.get("id", ""))
    content_type = str(item.get("mime_type") or "application/octet-stream")
    content.attachments.append(
        InboundAttachment(
            filename=str(item["filename"]) if item.get("filename") else None,
            content_type=content_type,
            size=0,
            data=None,
            omitted_reason=f"WhatsApp Cloud API media id {media_id or '(none)'}: not downloaded "
            "(fetching it needs a Graph API call with the business's access token, not implemented)",
        )
    )
    content.media.append({"kind": kind, "id": media_id, "content_type": content_type})


def _media_label(kind: str, item: Mapping[str, Any]) -> str:
    if kind == "audio":
        return "[voice message]" if item.get("voice") else "[audio]"
    if kind == "document" and item.get("filename"):
        return f"[document {item['filename']}]"
    return f"[{kind}]"


def _location_text(location: Mapping[str, Any]) -> str:
    lines = [f"[location {location.get('latitude')}, {location.get('longitude')}]"]
    lines += [str(location[k]) for k in ("name", "address", "url") if location.get(k)]
    return "\n".join(lines)


def _contacts_text(cards: Any) -> str:
    lines = ["[contact card]"]
    for card in cards if isinstance(cards, list) else []:
        if not isinstance(card, dict):
            continue
        name = _object(card.get("name"))
        phones = [str(p.get("phone", "")) for p in card.get("phones") or [] if isinstance(p, dict)]
        lines.append(", ".join(filter(None, [str(name.get("formatted_name", "")), *phones])))
    return "\n".join(lines)


def _interactive_text(interactive: Any) -> str | None:
    """The title the client chose (button, list row), or a WhatsApp Flow's answer."""
    if not isinstance(interactive, dict):
        return None
    kind = str(interactive.get("type", ""))
    reply = interactive.get(kind)
    if not isinstance(reply, dict):
        return None
    if kind in ("button_reply", "list_reply"):
        parts = [str(reply.get("title", "")), str(reply.get("description", ""))]
        return "\n".join(p for p in parts if p)
    if kind == "nfm_reply":
        return "\n".join(p for p in (str(reply.get("body", "")), str(reply.get("response_json", ""))) if p)
    return None


def _error_title(message: Mapping[str, Any]) -> str:
    errors = message.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("title") or errors[0].get("message") or "")
    return ""


def _content(message: Mapping[str, Any], *, depth: int = 0) -> _Content:
    kind = str(message.get("type", ""))
    body = _object(message.get(kind))
    if kind == "text":
        return _Content(text=str(body.get("body", "")))
    if kind in MEDIA_TYPES:
        content = _Content(text=str(body.get("caption") or "") or _media_label(kind, body))
        _media(kind, body, content)
        return content
    if kind == "location":
        return _Content(text=_location_text(body))
    if kind == "contacts":
        return _Content(text=_contacts_text(message.get("contacts")))
    if kind == "button":
        return _Content(text=str(body.get("text") or body.get("payload") or ""))
    if kind == "interactive" and (chosen := _interactive_text(message.get("interactive"))) is not None:
        return _Content(text=chosen)
    if kind == "reaction":
        emoji = str(body.get("emoji") or "")
        target = str(body.get("message_id") or "")
        return _Content(
            text=f"[reaction {emoji}]" if emoji else "[reaction removed]",
            refers_to=[f"wamid:{target}"] if target else [],
        )
    if kind == "order":
        items = _array(body.get("product_items"))
        text = f"[order: {len(items)} items from catalogue {body.get('catalog_id', '?')}]"
        return _Content(text="\n".join(p for p in (text, str(body.get("text") or "")) if p))
    if kind == "system":
        return _Content(text=f"[WhatsApp system message: {body.get('type', '?')}] {body.get('body', '')}".strip())
    if kind == "revoke":
        original = str(body.get("original_message_id") or "")
        return _Content(text="[the client deleted a message]", refers_to=[f"wamid:{original}"] if original else [])
    if kind == "edit" and depth == 0:
        original = str(body.get("original_message_id") or "")
        inner = _object(body.get("message"))
        content = _content(inner, depth=1)
        content.text = "[edited] " + content.text
        content.refers_to = [f"wamid:{original}"] if original else []
        return content
    # Unsupported types (polls, view-once media, …), an interactive reply Meta could not read,
    # a type newer than this code: kept as a clear text so staff can ask the client.
    detail = _error_title(message)
    if kind == "unsupported":
        inner_type = str(body.get("type") or "")
        return _Content(text=f"[unsupported WhatsApp message{' (' + inner_type + ')' if inner_type else ''}"
                        f"{': ' + detail if detail else ''}]")  # fmt: skip
    return _Content(text=f"[WhatsApp message of type {kind or '?'}{': ' + detail if detail else ''}]")


def _sent_at(message: Mapping[str, Any]) -> str | None:
    try:
        return datetime.fromtimestamp(int(str(message.get("timestamp"))), tz=UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True)
class WhatsAppCloudChannel:
    """Receipts of the Cloud API webhook; their messages are on the ``whatsapp`` channel."""

    name: str = CHANNEL_NAME

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        try:
            message_id = str(_load(raw)["message"].get("id") or "")
        except UnprocessableReceipt:
            message_id = ""
        # Meta gives every message an id; the hash only keeps a replay of an odd one stable.
        return natural_id_of("wamid", message_id) if message_id else "sha256:" + hashlib.sha256(raw).hexdigest()

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> InboundMessage:
        document = _load(raw)
        message: dict[str, Any] = document["message"]
        contact = _object(document.get("contact"))
        metadata = _object(document.get("metadata"))
        wa_id = str(message.get("from") or contact.get("wa_id") or "").strip()
        if not wa_id:
            raise UnprocessableReceipt("the WhatsApp message names no sender")
        if WA_ID.match(wa_id):
            sender = "+" + wa_id
        elif len(wa_id) <= MAX_SENDER:
            sender = wa_id  # not a number: kept as it came, like Twilio's alphanumeric senders
        else:
            raise UnprocessableReceipt("the WhatsApp sender id is too long to be one")
        kind = str(message.get("type", ""))
        content = _content(message)
        context = _object(message.get("context"))
        refers_to = list(content.refers_to)
        if context.get("id"):
            # A reply to a message (ours, or the client's own): thread on it when we know it.
            refers_to.append(f"wamid:{context['id']}")
        display = str(metadata.get("display_phone_number", ""))
        extra: dict[str, Any] = {
            "provider": CHANNEL_NAME,
            "whatsapp_id": wa_id,
            "message_id": str(message.get("id", "")),
            "message_type": kind,
            "phone_number_id": str(metadata.get("phone_number_id", "")),
            "display_phone_number": display,
            "media": content.media,
            "sent_at": _sent_at(message),
        }
        if context.get("forwarded") or context.get("frequently_forwarded"):
            extra["forwarded"] = "frequently" if context.get("frequently_forwarded") else True
        automatic = AUTOMATIC_TYPES.get(kind)
        return InboundMessage(
            channel="whatsapp",
            external_id=self.natural_id(raw, meta),
            sender_address=sender,
            sender_name=str(contact.get("profile_name") or "").strip() or None,
            subject=None,
            text=content.text,
            received_at=datetime.fromisoformat(meta["received_at"]),
            refers_to=tuple(dict.fromkeys(refers_to)),
            attachments=tuple(content.attachments),
            automatic=automatic,
            automatic_why=f"a WhatsApp {kind} notice, not a message to the office" if automatic else None,
            recipients=("+" + display,) if WA_ID.match(display) else (),
            extra=extra,
        )
