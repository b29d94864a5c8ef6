"""The client hears back on the channel they used: WhatsApp within 24 hours, else SMS, else e-mail."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.assembly import notices_from_settings
from ingest.inquiries.clock import pause_clock  # noqa: F401  (keeps the import graph honest)
from storage.actors import Actor
from storage.db import transaction
from storage.models import Contact, Event, Inquiry, Outbox
from tests.pipeline_office import T0, PipelineOffice, pipeline_office
from tests.twilio_helpers import twilio_section


def whatsapp_form(sid: str, body: str, number: str = "+37129111222") -> bytes:
    return urllib.parse.urlencode(
        {
            "MessageSid": sid,
            "From": f"whatsapp:{number}",
            "To": "whatsapp:+37167000000",
            "Body": body,
            "ProfileName": "Anna Liepa",
            "NumMedia": "0",
            "WaId": number.lstrip("+"),
        }
    ).encode()


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings(twilio=twilio_section())) as office:
        yield office


def outbox(engine: Any) -> list[Outbox]:
    with Session(engine) as session:
        return list(session.exec(select(Outbox).order_by(Outbox.id)).all())


def test_whatsapp_client_is_acknowledged_and_answered_on_whatsapp_then_sms(world: PipelineOffice) -> None:
    world.store.store_sync(
        world.pipeline.channels["whatsapp"],
        source="twilio",
        raw=whatsapp_form("SM1", "Labdien, netiek izvesti atkritumi."),
        meta={},
    )
    world.pipeline.process_due()
    (staff, ack) = outbox(world.engine)
    assert staff.channel == "email" and ack.channel == "whatsapp"
    assert ack.recipient == "+37129111222" and ack.payload["to"] == "+37129111222"
    assert "Jānis Kalniņš" in ack.payload["text"] and "GK-2026-000001" in ack.payload["text"]

    notices = notices_from_settings(world.settings)
    with transaction(world.sessions) as session:
        from storage.models import Employee

        inquiry = session.exec(select(Inquiry)).one()
        contact = session.get(Contact, inquiry.contact_id)
        janis = session.exec(select(Employee).where(Employee.key == "atkritumi-1")).one()
        within = notices.client_answer(session, inquiry=inquiry, contact=contact, employee=janis,
                                       text="Izvedīsim rīt.", now=world.clock() + timedelta(hours=2))  # fmt: skip
        late = notices.client_answer(session, inquiry=inquiry, contact=contact, employee=janis,
                                     text="Vēl viena ziņa.", now=world.clock() + timedelta(hours=30))  # fmt: skip
        dace = session.exec(select(Employee).where(Employee.key == "nami")).one()
        redirect = notices.client_redirect(
            session, inquiry=inquiry, contact=contact, employee=dace, reason="", now=world.clock() + timedelta(hours=30)
        )
    assert redirect is not None and redirect.channel == "sms"
    for detail in ("Dace Krūmiņa", "Namu pārvaldniece", "105. kabinets", "+37167000140"):
        assert detail in redirect.payload["text"], detail
    assert within is not None and within.channel == "whatsapp"
    assert late is not None and late.channel == "sms" and late.payload["to"] == "+37129111222"
    # Signed in one line in the client's language (Latvian here), the reference kept (policy 8).
    assert within.payload["text"] == (
        "Izvedīsim rīt.\n\nAr cieņu, Jānis Kalniņš, Atkritumu apsaimniekošanas speciālists · GK-2026-000001 · "
        "Klientu apkalpošana"
    )
    assert late.payload["text"].startswith("Vēl viena ziņa.\n\nAr cieņu, Jānis Kalniņš, ")
    with Session(world.engine) as session:
        changed = session.exec(select(Event).where(Event.type == "answer_channel_changed")).one()
    assert changed.data["to"] == "sms" and "24-hour" in changed.data["why"]


def test_no_texts_to_landlines_or_without_twilio(world: PipelineOffice, make_settings: Any) -> None:
    from ingest.outgoing.notices import _can_text

    assert _can_text("+37129111222") and _can_text("+4915112345678")
    assert not _can_text("+37167000100")  # a Latvian landline
    with transaction(world.sessions) as session:
        contact = Contact(name="Pēteris", phone="+37129111222")
        session.add(contact)
        session.flush()
        inquiry = Inquiry(reference="GK-2026-000098", token="u", contact_id=contact.id, channel="phone", received_at=T0)
        assert notices_from_settings(world.settings).reply_route(session, inquiry=inquiry, contact=contact, now=T0) == (
            "sms",
            "+37129111222",
        )
        without_twilio = notices_from_settings(make_settings())
        assert without_twilio.reply_route(session, inquiry=inquiry, contact=contact, now=T0) is None
        session.rollback()


def test_client_without_any_channel_is_called(world: PipelineOffice) -> None:
    with transaction(world.sessions) as session:
        contact = Contact(name="Pēteris")
        session.add(contact)
        session.flush()
        from storage.models import Employee

        olga = session.exec(select(Employee).where(Employee.key == "atkritumi-2")).one()
        inquiry = Inquiry(
            reference="GK-2026-000099",
            token="t",
            contact_id=contact.id,
            channel="visit",
            received_at=T0,
            employee_id=olga.id,
        )
        session.add(inquiry)
        session.flush()
        assert (
            notices_from_settings(world.settings).client_answer(
                session, inquiry=inquiry, contact=contact, employee=olga, text="x", now=T0
            )
            is None
        )
    with Session(world.engine) as session:
        event = session.exec(select(Event).where(Event.type == "client_unreachable")).one()
    assert "must call" in event.data["reason"]
    (told,) = outbox(world.engine)
    assert told.kind == "staff_call_client" and told.recipient == "olga.petrova@example.lv"


def test_a_whatsapp_thank_you_after_the_answer_reopens_it_and_a_later_message_opens_a_new_one(
    world: PipelineOffice,
) -> None:
    def receive(sid: str, body: str) -> None:
        world.store.store_sync(world.pipeline.channels["whatsapp"], source="twilio", raw=whatsapp_form(sid, body),
                               meta={})  # fmt: skip
        world.pipeline.process_due()

    receive("SM1", "Labdien, netiek izvesti atkritumi.")
    with transaction(world.sessions) as session:
        from ingest.inquiries.answering import answer
        from storage.models import Employee

        inquiry = session.exec(select(Inquiry)).one()
        janis = session.exec(select(Employee).where(Employee.key == "atkritumi-1")).one()
        notices = notices_from_settings(world.settings)
        answer(session, inquiry=inquiry, author=janis, text="Izvedīsim rīt.", notices=notices, via="api",
               now=world.clock())  # fmt: skip
    world.clock.now += timedelta(hours=3)
    receive("SM2", "Jā, der. Paldies!")
    with Session(world.engine) as session:
        (only,) = session.exec(select(Inquiry)).all()
        assert only.status == "open", "the thank-you reopened the answered inquiry, where one click closes it"
        assert session.exec(select(Event).where(Event.type == "reopened")).one().inquiry_id == only.id
    with transaction(world.sessions) as session:
        from ingest.inquiries.closing import close

        close(session, inquiry=session.exec(select(Inquiry)).one(), reason="no_answer_needed",
              actor=Actor.employee("atkritumi-1"), now=world.clock())  # fmt: skip
    world.clock.now += timedelta(days=2)
    receive("SM3", "Labdien, atkal nav izvesti atkritumi.")
    with Session(world.engine) as session:
        assert len(session.exec(select(Inquiry)).all()) == 2, "days later, and after a close, a new matter is new"
