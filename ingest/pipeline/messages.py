"""Storing an incoming message on its inquiry, with its attachments and media to download."""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from channels.base import InboundMessage
from storage.models import Attachment, Inquiry, Message, Receipt
from storage.twilio_models import MediaFetch


def add_message(
    session: Session,
    inquiry: Inquiry,
    inbound: InboundMessage,
    receipt: Receipt,
    *,
    direction: str = "in",
    text: str | None = None,
    link_receipt: bool = True,
) -> Message:
    """The message row (and the receipt linked to it); a Twilio media URL becomes an attachment
    without bytes plus a ``media_fetch`` row, downloaded outside this transaction."""
    assert inquiry.id is not None
    message = Message(
        inquiry_id=inquiry.id,
        direction=direction,
        channel=inbound.channel,
        external_id=inbound.external_id,
        sender=inbound.sender_address,
        sender_name=inbound.sender_name,
        subject=inbound.subject,
        text=inbound.text if text is None else text,
        received_at=inbound.received_at,
        receipt_id=receipt.id,
        refers_to=list(inbound.refers_to),
    )
    session.add(message)
    session.flush()
    assert message.id is not None
    for item in inbound.attachments:
        attachment = Attachment(
            message_id=message.id,
            filename=item.filename,
            content_type=item.content_type,
            size=item.size,
            sha256=hashlib.sha256(item.data).hexdigest() if item.data is not None else "",
            data=item.data,
            omitted_reason=item.omitted_reason,
        )
        session.add(attachment)
        if item.fetch_url and item.data is None:
            session.flush()
            assert attachment.id is not None
            session.add(
                MediaFetch(attachment_id=attachment.id, url=item.fetch_url, next_attempt_at=inbound.received_at)
            )
    if link_receipt:  # else the caller links it (the pipeline's runner, with the receipt's status)
        receipt.message_id = message.id
        session.add(receipt)
    return message
