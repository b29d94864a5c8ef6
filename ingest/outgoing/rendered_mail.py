"""An outbox row's e-mail as the transports send it: its bytes and its envelope, from the payload alone.

Rendering needs nothing but the row's payload, so the preparing pool's processes can do it
(ingest/pipeline/prepare.py) while the outbox's thread sends what is rendered: building the
message and its bytes was about a third of what the service's own process spent on each
notification. Rendered here or there, the bytes are the same: ``build_email`` then
``message_bytes``, and the envelope is the one ``smtplib``'s ``send_message`` would read from
the headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from ingest.outgoing.mail_bytes import message_bytes
from ingest.outgoing.mail_transport import build_email


@dataclass(frozen=True)
class RenderedMail:
    data: bytes
    sender: str
    recipients: tuple[str, ...]


# A payload rendered; None when only the message itself will do (see render_mail); or the
# error that building it raised, raised again when the row is sent.
Rendering = RenderedMail | None | Exception


def render_mail(payload: Mapping[str, Any]) -> RenderedMail | None:
    """The payload's message as bytes with its envelope; None for a message whose addresses need
    SMTPUTF8 or that has a Bcc, which the relay sends from the message itself (``send_message``
    writes those differently). Raises what ``build_email`` raises."""
    message = build_email(dict(payload))
    addresses = envelope(message)
    if addresses is None:
        return None
    sender, recipients = addresses
    if not "".join([sender, *recipients]).isascii():
        return None
    return RenderedMail(message_bytes(message), sender, recipients)


def envelope(message: EmailMessage) -> tuple[str, tuple[str, ...]] | None:
    """Sender and recipients as ``smtplib.SMTP.send_message`` takes them from the headers; None
    where it would change the message (a Bcc it removes) or refuse it (two Resent- blocks)."""
    resent = message.get_all("Resent-Date")
    if (resent is not None and len(resent) > 1) or "Bcc" in message or "Resent-Bcc" in message:
        return None
    prefix = "Resent-" if resent else ""
    sender_field = message[f"{prefix}Sender"] if f"{prefix}Sender" in message else message[f"{prefix}From"]
    if sender_field is None:
        return None  # build_email always writes a From: left to send_message, whatever it makes of it
    sender = getaddresses([str(sender_field)])[0][1]
    fields = [str(value) for value in (message[f"{prefix}To"], message[f"{prefix}Cc"]) if value is not None]
    return sender, tuple(address for _, address in getaddresses(fields))


def render_chunk(payloads: Sequence[Mapping[str, Any]]) -> list[Rendering]:
    """Each payload rendered, or the error that stopped it (what the pool's processes run)."""
    results: list[Rendering] = []
    for payload in payloads:
        try:
            results.append(render_mail(payload))
        except Exception as exc:  # noqa: BLE001 - raised again when its row is sent, and recorded there
            results.append(exc)
    return results
