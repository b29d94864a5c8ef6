"""Step: links between an e-mail address and a phone number that the message suggests to staff
(issue 18: "the service suggests links it sees"), stored for them to accept or dismiss
(ingest/inquiries/link_suggestions.py):

- an e-mail whose text (a signature, usually) has a Latvian phone number of a phone, SMS or
  WhatsApp client: +371 and 8 digits, or 8 digits from 2 or 6, with spaces or dashes;
- the same name (storage/names.py) on an e-mail client and a phone or WhatsApp client, compared
  when a client first has a name (a new contact, or one that got its name from this message).

It runs once per message, so it stays cheap: no statement at all for a message without anything
like a number in its text and a client whose name is not new, and one INSERT … SELECT per kind
of evidence otherwise (ingest/pipeline/runner.py: many messages share one transaction).
"""

from __future__ import annotations

import re

from channels.calls import normalise_number
from ingest.pipeline.arrival import Arrival, Outcome, Step
from storage import link_repo
from storage.names import name_key

# Not inside a longer run of digits or a word (an account or invoice number, an IBAN).
PHONE = re.compile(r"(?<![\w+])(?<!\d[ \t-])(?:(?:\+|00)371[ \t-]?\d|[26])(?:[ \t-]?\d){7}(?!\w)(?![ \t-]\d)")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A signature is at the top of a reply or near the end of a letter; a long text is read this far.
SCAN_CHARS = 20_000
MAX_NUMBERS = 5


def phone_numbers_in(text: str) -> list[str]:
    """The Latvian phone numbers in ``text``, as E.164 (``+371…``), in the order they come."""
    found: list[str] = []
    for match in PHONE.finditer(text[:SCAN_CHARS]):
        if ISO_DATE.fullmatch(match.group()):  # 2026-03-11 has eight digits from 2 and dashes
            continue
        number = normalise_number(match.group())
        if number not in found:
            found.append(number)
        if len(found) == MAX_NUMBERS:
            break
    return found


def run(arrival: Arrival) -> Outcome | None:
    contact, message = arrival.contact, arrival.message
    assert contact is not None and contact.id is not None and message is not None
    session, now = arrival.session, arrival.now
    is_email_contact = contact.email is not None and contact.phone is None
    if arrival.inbound.channel == "email" and is_email_contact:
        numbers = phone_numbers_in(arrival.inbound.text)
        if numbers:
            # Staff's own numbers (an acknowledgement quoted in the reply names the employee's) are
            # no client's; the employees are read once per batch.
            staff = {normalise_number(e.phone) for e in arrival.batch.employees().values() if e.phone}
            numbers = [n for n in numbers if n not in staff]
        if numbers:
            link_repo.suggest_by_phone(session, email_contact_id=contact.id, numbers=numbers, message_id=message.id,
                                       now=now)  # fmt: skip
    key = name_key(contact.name) if arrival.contact_named else None
    if key is not None and (is_email_contact or (contact.phone is not None and contact.email is None)):
        link_repo.suggest_by_name(session, contact=contact, key=key, message_id=message.id, now=now)
    return None


STEP = Step("link suggestions", run)
