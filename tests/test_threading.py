"""One client, one conversation, whatever channel they use next (issue 18, policy 5.1.1).

WhatsApp, SMS and a missed call from one number are one inquiry with one acknowledgement and a
call-back task for its employee; mail from an address staff linked to the number joins too; a
message clearly about another topic opens a second inquiry linked to the first, acknowledged
with its own reference; a loop of 50 messages in a minute gets one acknowledgement.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from channels.calls import call_document, encode
from ingest.inquiries.contact_links import link_contact
from ingest.inquiries.explain import explain
from ingest.outgoing.acks import held_back
from storage.db import transaction
from storage.models import Contact, Event, Inquiry, Outbox
from storage.staff_models import AuditLog
from tests.dashboard_helpers import NOW, PASSWORD, Clock, csrf_of, give_passwords, login
from tests.pipeline_office import PipelineOffice, pipeline_office
from tests.staff_api_helpers import office, settings_with_admin
from tests.support import running_service
from tests.twilio_helpers import twilio_section

RIGA = ZoneInfo("Europe/Riga")
NUMBER = "+37129111222"
JANIS = "janis.kalnins@example.lv"  # atkritumi-1, the waste specialist


def text_form(sid: str, body: str, *, whatsapp: bool) -> bytes:
    prefix = "whatsapp:" if whatsapp else ""
    fields = {"MessageSid": sid, "From": f"{prefix}{NUMBER}", "To": f"{prefix}+37167000000", "Body": body,
              "NumMedia": "0"}  # fmt: skip
    if whatsapp:
        fields.update(ProfileName="Anna Liepa", WaId=NUMBER.lstrip("+"))
    return urllib.parse.urlencode(fields).encode()


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings(twilio=twilio_section())) as office:
        yield office


def process(world: PipelineOffice) -> None:
    while world.pipeline.process_due():
        pass


def whatsapp(world: PipelineOffice, sid: str, body: str) -> None:
    world.store.store_sync(world.pipeline.channels["whatsapp"], source="twilio", raw=text_form(sid, body,
                           whatsapp=True), meta={})  # fmt: skip
    process(world)


def sms(world: PipelineOffice, sid: str, body: str) -> None:
    world.store.store_sync(world.pipeline.channels["sms"], source="twilio",
                           raw=text_form(sid, body, whatsapp=False), meta={})  # fmt: skip
    process(world)


def missed_call(world: PipelineOffice, call_id: str, *, days_ago: int = 0) -> None:
    """A missed call now (Twilio Voice), or imported ``days_ago`` days after it was made."""
    document = call_document(source="twilio-voice" if not days_ago else "csv", call_id=call_id, from_raw=NUMBER,
                             to_raw="+37167000100", start=world.clock() - timedelta(days=days_ago), answered=False,
                             duration=0, disposition="no-answer", direction="inbound")  # fmt: skip
    meta = {"imported_at": world.clock().isoformat()} if days_ago else {}
    world.store.store_sync(world.pipeline.channels["phone"], source=str(document["source"]), raw=encode(document),
                           meta=meta)  # fmt: skip
    process(world)


def mail(world: PipelineOffice, mid: str, subject: str, body: str, sender: str = "anna@client.example") -> None:
    raw = (f"From: Anna <{sender}>\r\nTo: klienti@example.lv\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()  # fmt: skip
    world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=raw, meta={})
    process(world)


def rows(world: PipelineOffice, model: Any, *where: Any) -> list[Any]:
    with Session(world.engine) as session:
        return list(session.exec(select(model).where(*where).order_by(model.id)).all())


def acks(world: PipelineOffice) -> list[Outbox]:
    return rows(world, Outbox, Outbox.kind == "client_ack")


def test_whatsapp_sms_and_a_missed_call_are_one_inquiry_with_a_call_back_task(world: PipelineOffice) -> None:
    whatsapp(world, "SM1", "Labdien, netiek izvesti atkritumi.")
    world.clock.now += timedelta(minutes=1)
    sms(world, "SM2", "Vai varat atbraukt šodien?")
    world.clock.now += timedelta(minutes=20)
    missed_call(world, "CA1")
    (inquiry,) = rows(world, Inquiry)
    assert len(rows(world, Contact)) == 1
    (ack,) = acks(world)
    assert ack.channel == "whatsapp" and inquiry.reference in ack.payload["text"]
    joined = [e.data["joined"] for e in rows(world, Event, Event.type == "message_received")]
    assert [j["rule"] for j in joined] == ["cross_channel", "missed_call"]
    (task,) = rows(world, Event, Event.type == "call_back_task")
    assert task.inquiry_id == inquiry.id and task.data["employee"] == "atkritumi-1"
    (now_told,) = rows(world, Outbox, Outbox.kind == "staff_call_back")
    (reminder,) = rows(world, Outbox, Outbox.kind == "staff_call_back_reminder")
    assert now_told.recipient == reminder.recipient == JANIS
    assert inquiry.reference in now_told.payload["subject"]
    assert reminder.next_attempt_at is not None and reminder.next_attempt_at > world.clock() + timedelta(hours=1)
    # Neither a new inquiry for the coordinator nor a second acknowledgement for the call.
    assert not rows(world, Outbox, Outbox.recipient == "ilze.berzina@example.lv")
    with Session(world.engine) as session:
        lines = "\n".join(explain(session, reference=inquiry.reference, tz=RIGA).lines)
    assert "joined on sms: the client's open inquiry, on another channel" in lines
    assert "call back +37129111222: atkritumi-1" in lines


def test_a_late_imported_missed_call_stays_without_inquiry_and_sends_nothing(world: PipelineOffice) -> None:
    whatsapp(world, "SM1", "Labdien, netiek izvesti atkritumi.")
    before = rows(world, Outbox)
    missed_call(world, "old-1", days_ago=5)  # [calls] callback_window: 1 working day, long closed
    assert len(rows(world, Inquiry)) == 1 and rows(world, Outbox) == before
    assert not rows(world, Event, Event.type.in_(("call_back_task", "message_received")))  # type: ignore[attr-defined]


def test_mail_from_a_linked_address_joins_the_number_s_inquiry(world: PipelineOffice) -> None:
    mail(world, "old-1@client.example", "Rēķins", "Lūdzu atsūtiet rēķina kopiju.")
    world.clock.now += timedelta(days=7)  # long closed matters stay where they are
    whatsapp(world, "SM1", "Labdien, netiek izvesti atkritumi.")
    with transaction(world.sessions) as session:
        linked = link_contact(session, email="Anna@Client.example", phone="29111222")
    assert linked.merged_contact_id is not None and len(linked.moved_inquiries) == 1
    world.clock.now += timedelta(hours=1)
    mail(world, "new-1@client.example", "Jautājums", "Vai ir kādas ziņas?")
    inquiries = rows(world, Inquiry)
    assert len(inquiries) == 2 and {i.contact_id for i in inquiries} == {linked.contact.id}
    (event,) = rows(world, Event, Event.type == "message_received")
    assert event.data["joined"]["rule"] == "cross_channel" and event.data["channel"] == "email"
    assert event.inquiry_id == next(i.id for i in inquiries if i.channel == "whatsapp")
    assert len(acks(world)) == 2  # the two inquiries, none for the joined mail


def test_another_topic_opens_a_linked_inquiry_with_its_own_acknowledgement(world: PipelineOffice) -> None:
    whatsapp(world, "SM1", "Labdien, netiek izvesti atkritumi.")
    world.clock.now += timedelta(hours=2)
    whatsapp(world, "SM2", "Un vēl: radiatori ir auksti, dzīvoklī nav apkures.")
    first, second = rows(world, Inquiry)
    assert (first.topic, second.topic) == ("atkritumi", "siltums")
    (split_from,) = rows(world, Event, Event.type == "split_from")
    (split_to,) = rows(world, Event, Event.type == "split_to")
    assert split_from.inquiry_id == second.id and split_from.data["reference"] == first.reference
    assert split_to.inquiry_id == first.id and split_to.data["reference"] == second.reference
    assert split_from.data["rule"] == "other_topic" and split_from.data["inquiry_topic"] == "atkritumi"
    # The same client, the same day: each inquiry acknowledged, each with its own reference.
    one, two = acks(world)
    assert first.reference in one.payload["text"] and second.reference in two.payload["text"]
    assert first.reference not in two.payload["text"]
    # A later message on the first matter goes on there, not into a third inquiry.
    world.clock.now += timedelta(minutes=5)
    whatsapp(world, "SM3", "Atkritumu konteiners joprojām pilns.")
    assert len(rows(world, Inquiry)) == 2
    last = rows(world, Event, Event.type == "message_received")[-1]
    assert last.inquiry_id == first.id
    with Session(world.engine) as session:
        lines = "\n".join(explain(session, reference=second.reference, tz=RIGA).lines)
    assert f"opened apart from {first.reference}" in lines


def test_a_loop_of_fifty_messages_in_a_minute_gets_one_acknowledgement(world: PipelineOffice) -> None:
    for i in range(50):
        mail(world, f"loop-{i}@robot.example", f"Paziņojums {i}", "Jūsu ziņa ir saņemta.", sender="robot@robot.example")
        world.clock.now += timedelta(seconds=1)
    assert len(acks(world)) == 1
    assert len(rows(world, Inquiry)) == 1
    # The rule that held the others back, on a second inquiry of that sender: in the burst, the
    # address had its acknowledgement; two minutes after the burst, a new inquiry gets its own.
    with transaction(world.sessions) as session:
        (robot,) = session.exec(select(Contact).where(Contact.email == "robot@robot.example")).all()
        assert robot.id is not None
        other = Inquiry(reference="GK-2026-000099", token="x", contact_id=robot.id, channel="email",
                        received_at=world.clock())  # fmt: skip
        session.add(other)
        session.flush()
        rules = {"address": "robot@robot.example", "window": timedelta(minutes=15), "burst_per_minute": 5}
        why = held_back(session, inquiry=other, contact=robot, now=world.clock(), **rules)  # type: ignore[arg-type]
        assert why is not None and "burst" in why
        later = world.clock() + timedelta(minutes=2)
        assert held_back(session, inquiry=other, contact=robot, now=later, **rules) is None  # type: ignore[arg-type]
        session.rollback()


def test_staff_link_an_address_and_a_number_through_the_api_audited(make_settings: Any) -> None:
    with office(settings_with_admin(make_settings)) as o:
        linked = o.call("POST", "/api/v1/contacts/links", "employee",
                        json={"email": "Janis@Client.example", "phone": "2911 1222"})  # fmt: skip
        assert linked.status_code == 200, linked.text
        body = linked.json()
        assert (body["email"], body["phone"]) == ("janis@client.example", "+37129111222")
        assert body["merged_contact_id"] is None  # no contact had the number: the address's got it
        wrong = o.call("POST", "/api/v1/contacts/links", "employee", json={"email": "x@y.lv", "phone": "abc"})
        assert wrong.status_code == 422
        with o.service.sessions() as session:
            (audit,) = session.exec(select(AuditLog).where(AuditLog.action == "contact.link")).all()
        assert audit.actor == "atkritumi-1" and audit.detail["contact_id"] == body["contact_id"]
        assert "janis@client.example" not in str(audit.detail)  # ids only, never addresses


@pytest.mark.slow  # a running service
def test_staff_link_an_address_and_a_number_in_the_workspace(make_settings: Any) -> None:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "atkritumi-1")
        employee, _ = login(f"http://127.0.0.1:{service.http_port}", "atkritumi-1", PASSWORD)
        listed = employee.get("/dashboard/inquiries")
        assert 'href="/dashboard/contacts/link"' in listed.text
        form = employee.get("/dashboard/contacts/link")
        assert form.status_code == 200 and 'id="link-contact"' in form.text
        fields = {"email": "anna@client.example", "phone": "+371 2911 1222"}
        assert employee.post("/dashboard/contacts/link", data=fields).status_code == 403, "no CSRF token"
        done = employee.post("/dashboard/contacts/link", data={**fields, "csrf": csrf_of(form.text)})
        assert done.status_code == 200 and 'id="linked"' in done.text and "+37129111222" in done.text
        wrong = employee.post("/dashboard/contacts/link", data={**fields, "phone": "x", "csrf": csrf_of(form.text)})
        assert wrong.status_code == 422
        with service.sessions() as session:
            (contact,) = session.exec(select(Contact)).all()
            (logged,) = session.exec(select(AuditLog).where(AuditLog.action == "contact.link")).all()
        assert (contact.email, contact.phone) == ("anna@client.example", "+37129111222")
        assert logged.detail["contact_id"] == contact.id and logged.actor == "atkritumi-1"
