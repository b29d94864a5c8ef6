"""Staff link an e-mail address and a phone number to one client (policy 5.1.1: one matter,
whatever channel the client uses). Phone, SMS and WhatsApp already share the contact of a number;
an e-mail address is a contact of its own until linked. Linking keeps the number's contact (it
carries the WhatsApp id), gives it the address, and hands it the inquiries of the address's
contact, which keeps neither the address nor the inquiries. From then on mail from the address
joins the client's open inquiry (ingest/pipeline/joining.py). Audited by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from channels.calls import normalise_number
from storage import repo, thread_repo
from storage.models import Contact


class LinkError(ValueError):
    """The address or number cannot be linked (what to correct is in the message)."""


@dataclass(frozen=True)
class Linked:
    contact: Contact
    # The address's former contact, emptied into ``contact``; None when there was none.
    merged_contact_id: int | None
    moved_inquiries: list[int]


def link_contact(session: Session, *, email: str, phone: str) -> Linked:
    """One contact for ``email`` and ``phone``, made from the contacts they have (or a new one)."""
    address, number = email.strip().lower(), normalise_number(phone)
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise LinkError("email: not an e-mail address")
    if not number.startswith("+") or not number[1:].isdigit():
        raise LinkError("phone: not a phone number (E.164, or a Latvian 8-digit number)")
    by_phone = repo.find_contact_by_phone(session, phone=number)
    by_email = repo.find_contact_by_email(session, email=address)
    keeper = by_phone or by_email or Contact(phone=number, email=address)
    session.add(keeper)
    session.flush()
    assert keeper.id is not None
    merged, moved = None, []
    if by_email is not None and by_email.id != keeper.id:
        assert by_email.id is not None
        moved = thread_repo.move_inquiries(session, from_id=by_email.id, to_id=keeper.id)
        merged, by_email.email = by_email.id, None
        keeper.name = keeper.name or by_email.name
        keeper.preferred_language = keeper.preferred_language or by_email.preferred_language
        session.add(by_email)
    keeper.email, keeper.phone = address, keeper.phone or number
    keeper.email_undeliverable_at = None if by_email is None else by_email.email_undeliverable_at
    session.add(keeper)
    session.flush()
    return Linked(contact=keeper, merged_contact_id=merged, moved_inquiries=moved)
