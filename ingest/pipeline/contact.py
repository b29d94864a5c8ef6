"""Step: the client the message is from, found or created.

E-mail: one contact per address. SMS, WhatsApp and calls: one contact per E.164 number
(``whatsapp:`` stripped), whichever of those channels the client used.
"""

from __future__ import annotations

from sqlmodel import Session

from channels.base import InboundMessage
from ingest.pipeline.arrival import Arrival, Outcome, Step
from storage import repo
from storage.models import Contact

PHONE_CHANNELS = ("sms", "whatsapp", "phone")


def run(arrival: Arrival) -> Outcome | None:
    if arrival.inbound.channel in PHONE_CHANNELS:
        arrival.contact, had_name, arrival.contact_new = _phone_contact(arrival.session, arrival.inbound)
    else:
        arrival.contact, had_name, arrival.contact_new = _address_contact(arrival)
    arrival.contact_named = bool(arrival.contact.name) and not had_name
    return None


def _address_contact(arrival: Arrival) -> tuple[Contact, str | None, bool]:
    """The contact, the name it had before this message (None: new, or had none), and whether it
    was created for this message."""
    session, inbound = arrival.session, arrival.inbound
    address = inbound.sender_address.lower()
    is_email = inbound.channel == "email"
    contact = arrival.batch.contact_by_email(address) if is_email else None
    if contact is None:
        # Stored with the inquiry it opens (which gives it its language), or the message it sends.
        contact = Contact(name=inbound.sender_name, email=address if is_email else None)
        session.add(contact)
        return contact, None, True
    had = contact.name
    if not contact.name and inbound.sender_name:
        contact.name = inbound.sender_name
        session.add(contact)
    return contact, had, False


def _phone_contact(session: Session, inbound: InboundMessage) -> tuple[Contact, str | None, bool]:
    """As :func:`_address_contact`, by the number."""
    phone = inbound.sender_address.removeprefix("whatsapp:")
    whatsapp_id = None
    if inbound.channel == "whatsapp":
        whatsapp_id = str(inbound.extra.get("whatsapp_id") or "") or None
    contact = repo.find_contact_by_phone(session, phone=phone, whatsapp_id=whatsapp_id)
    if contact is None:
        contact = Contact(name=inbound.sender_name, phone=phone, whatsapp_id=whatsapp_id)
        session.add(contact)
        session.flush()
        return contact, None, True
    had = contact.name
    # Fill in what is missing; the WhatsApp profile name only when the contact has no name.
    if not contact.phone:
        contact.phone = phone
    if whatsapp_id and not contact.whatsapp_id:
        contact.whatsapp_id = whatsapp_id
    if not contact.name and inbound.sender_name:
        contact.name = inbound.sender_name
    session.add(contact)
    return contact, had, False


STEP = Step("contact", run)
