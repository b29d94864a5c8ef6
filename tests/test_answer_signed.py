"""Every answer to the client is signed by the employee (name, surname, position) under closing
words in the client's language, on e-mail and on SMS/WhatsApp (policy 8); the answer is kept as
the client received it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.assembly import notices_from_settings
from ingest.inquiries.answering import answer
from storage.db import transaction
from storage.models import Contact, Employee, Inquiry, Message
from tests.pipeline_office import T0, PipelineOffice, pipeline_office
from tests.twilio_helpers import twilio_section

CLOSING = {"lv": "Ar cieņu,", "ru": "С уважением,", "en": "Kind regards,"}
# The position and the office's name in the client's language (config.example.toml has all three).
SIGNATURES = {
    "lv": "Jānis Kalniņš, Atkritumu apsaimniekošanas speciālists",
    "ru": "Jānis Kalniņš, Специалист по обращению с отходами",
    "en": "Jānis Kalniņš, Waste management specialist",
}
OFFICE = {"lv": "Klientu apkalpošana", "ru": "Обслуживание клиентов", "en": "Customer service"}


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings(twilio=twilio_section())) as office:
        yield office


def open_inquiry(session: Session, *, channel: str, language: str | None, preferred: str | None = None,
                 subject: str | None = "Konteiners") -> tuple[Inquiry, Contact, Employee]:  # fmt: skip
    janis = session.exec(select(Employee).where(Employee.key == "atkritumi-1")).one()
    contact = Contact(name="Anna", email="anna@client.example", phone="+37129111222", preferred_language=preferred)
    session.add(contact)
    session.flush()
    number = secrets.randbelow(900_000) + 100
    inquiry = Inquiry(reference=f"GK-2026-{number:06d}", token=secrets.token_hex(8), contact_id=contact.id,
                      channel=channel, language=language, subject=subject, received_at=T0,
                      employee_id=janis.id)  # fmt: skip
    session.add(inquiry)
    session.flush()
    return inquiry, contact, janis


@pytest.mark.parametrize("language", ["lv", "ru", "en"])
def test_an_e_mail_answer_is_signed_in_the_clients_language(world: PipelineOffice, language: str) -> None:
    notices = notices_from_settings(world.settings)
    with transaction(world.sessions) as session:
        inquiry, contact, janis = open_inquiry(session, channel="email", language=language)
        sent = notices.client_answer(session, inquiry=inquiry, contact=contact, employee=janis,
                                     text="  Konteiners tiks iztukšots rīt.\n", now=T0)  # fmt: skip
        reference = inquiry.reference
    assert sent is not None and sent.channel == "email"
    assert sent.payload["text"] == (
        f"Konteiners tiks iztukšots rīt.\n\n{CLOSING[language]}\n{SIGNATURES[language]}\n{OFFICE[language]}\n"
    )
    assert sent.payload["subject"] == f"Re: Konteiners [{reference}]"  # today's Re: and reference rule stands
    for other, closing in CLOSING.items():
        assert (closing in sent.payload["text"]) is (other == language)


def test_without_a_subject_the_letter_takes_the_templates_own(world: PipelineOffice) -> None:
    notices = notices_from_settings(world.settings)
    with transaction(world.sessions) as session:
        inquiry, contact, janis = open_inquiry(session, channel="email", language=None, preferred="ru", subject=None)
        sent = notices.client_answer(session, inquiry=inquiry, contact=contact, employee=janis, text="Да.", now=T0)
        reference = inquiry.reference
    assert sent is not None
    assert sent.payload["subject"] == f"Ответ на ваше обращение [{reference}]"
    assert "С уважением," in sent.payload["text"], "the contact's preferred language when the inquiry has none"


@pytest.mark.parametrize(("channel", "language"), [("sms", "lv"), ("whatsapp", "ru"), ("sms", "en"), ("sms", None)])
def test_a_text_answer_is_signed_on_one_line_with_the_reference(
    world: PipelineOffice, channel: str, language: str | None
) -> None:
    notices = notices_from_settings(world.settings)
    with transaction(world.sessions) as session:
        inquiry, contact, janis = open_inquiry(session, channel=channel, language=language)
        if channel == "whatsapp":  # the client wrote within 24 hours: WhatsApp may be answered
            session.add(Message(inquiry_id=inquiry.id, direction="in", channel="whatsapp", external_id="wa-1",
                                sender="+37129111222", text="Sveiki", received_at=T0))  # fmt: skip
            session.flush()
        sent = notices.client_answer(session, inquiry=inquiry, contact=contact, employee=janis,
                                     text="Izvedīsim rīt.", now=T0)  # fmt: skip
        reference = inquiry.reference
    assert sent is not None and sent.channel == channel
    lang = language or "lv"
    assert (
        sent.payload["text"] == f"Izvedīsim rīt.\n\n{CLOSING[lang]} {SIGNATURES[lang]} · {reference} · {OFFICE[lang]}"
    )


def test_the_stored_answer_is_what_the_client_received(world: PipelineOffice) -> None:
    notices = notices_from_settings(world.settings)
    with transaction(world.sessions) as session:
        inquiry, _, janis = open_inquiry(session, channel="email", language="en")
        message, sent = answer(session, inquiry=inquiry, author=janis, text="Tomorrow.", notices=notices,
                               via="api", now=T0)  # fmt: skip
        assert sent is not None
        signed = f"Tomorrow.\n\nKind regards,\n{SIGNATURES['en']}\n{OFFICE['en']}\n"
        assert message.text == sent.payload["text"] == signed
        # Nothing reaches a client without an address or a phone: what the employee wrote is kept.
        lonely = Contact(name="Pēteris")
        session.add(lonely)
        session.flush()
        inquiry.contact_id = lonely.id
        inquiry.status = "open"
        message, sent = answer(session, inquiry=inquiry, author=janis, text="Zvanīšu.", notices=notices,
                               via="api", now=T0)  # fmt: skip
        assert sent is None and message.text == "Zvanīšu."
