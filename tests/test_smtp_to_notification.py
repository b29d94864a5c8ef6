"""The walking skeleton end to end: mail in over SMTP, a routed inquiry, a staff notification out."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest

from storage.models import Employee, Event, Inquiry, Message, Outbox, Receipt
from tests.smtp_helpers import CLIENT, client_mail, rows, send
from tests.support import wait_until


@pytest.fixture
def settings(make_settings: Any, relay: Any) -> Any:
    return make_settings(outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"})


def test_mail_becomes_routed_inquiry_and_employee_is_notified(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        send(
            service.smtp_port,
            client_mail(
                "Neizvesti atkritumi", "Labdien! Jau otro nedēļu netiek izvesti atkritumi no Brīvības ielas 12."
            ),
        )
        wait_until(lambda: relay.staff() and relay.clients(), what="the staff notification and the acknowledgement")
        inquiries = rows(service, Inquiry)
        employees = {e.id: e for e in rows(service, Employee)}

    assert len(inquiries) == 1
    inquiry = inquiries[0]
    assert inquiry.topic == "atkritumi"
    assert employees[inquiry.employee_id].key == "atkritumi-1"  # both waste specialists idle: the first listed
    assert inquiry.reference.startswith("GK-") and len(inquiry.reference) == len("GK-2026-000001")
    assert inquiry.due_at is not None and inquiry.due_at > inquiry.received_at

    (note,) = relay.staff()
    assert note["To"].addresses[0].addr_spec == "janis.kalnins@example.lv"
    assert inquiry.reference in note["Subject"]
    due_local = inquiry.due_at.astimezone(settings_tz(settings)).strftime("%d.%m.%Y %H:%M")
    assert due_local in note["Subject"]
    body = note.get_content()
    assert inquiry.reference in body and due_local in body
    assert "Brīvības ielas 12" in body
    assert note["Auto-Submitted"] == "auto-generated"

    # Clauses 8, 9, 10.1: the client learns the reference, who handles it (name, surname,
    # position) and by when, in their language, as a reply to their own message.
    (ack,) = relay.clients()
    assert ack["To"].addresses[0].addr_spec == CLIENT
    assert f"[{inquiry.reference}]" in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied"
    text = ack.get_content()
    assert "Jānis Kalniņš, Atkritumu apsaimniekošanas speciālists" in text
    assert due_local in text and inquiry.reference in text
    assert "Paldies" in text  # Latvian, as the client wrote


def settings_tz(settings: Any) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings.service.timezone)


def test_routing_events_explain_the_choice(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        send(
            service.smtp_port,
            client_mail("Радиатор холодный", "Здравствуйте, в квартире холодные батареи, отопление не работает."),
        )
        send(
            service.smtp_port,
            client_mail("Sveiki", "Vēlos uzzināt jūsu darba laiku.", sender="other@client.example"),
            sender="other@client.example",
        )
        wait_until(lambda: len(relay.staff()) == 2, what="two notifications")
        events = rows(service, Event)
        inquiries = {i.id: i for i in rows(service, Inquiry)}
    routed = {inquiries[e.inquiry_id].topic: e.data for e in events if e.type == "routed"}
    assert routed["siltums"]["rule"] == "topic-keyword"
    assert routed["siltums"]["employee"] == "siltums"
    assert routed["siltums"]["facts"]["keyword"] in ("radiator", "отоплен", "батаре")
    assert routed[None]["rule"] == "fallback"
    assert routed[None]["employee"] == "koordinatore"
    heating = next(i for i in inquiries.values() if i.topic == "siltums")
    assert heating.complexity == "complex"
    types = [e.type for e in events if e.inquiry_id == heating.id]
    assert types[:4] == ["received", "routed", "staff_notification_queued", "client_ack_queued"]
    assert "notified" in types


def test_same_message_twice_is_one_inquiry(settings: Any, relay: Any, service_factory: Any) -> None:
    msg = client_mail("Bedre uz ceļa", "Uz Rūpniecības ielas ir liela bedre.", message_id="dup-1@client.example")
    with service_factory(settings) as service:
        send(service.smtp_port, msg)
        send(service.smtp_port, msg)
        wait_until(lambda: relay.staff(), what="notification")
        # Give a second (wrong) notification every chance to appear.
        wait_until(lambda: all(r.status == "processed" for r in rows(service, Receipt)), what="receipts processed")
        service.outbox_worker.wake()
        wait_until(lambda: all(o.status == "sent" for o in rows(service, Outbox)), what="outbox drained")
        assert len(rows(service, Receipt)) == 1
        assert len(rows(service, Inquiry)) == 1
        assert len(rows(service, Message)) == 1
        assert len(relay.staff()) == 1 and len(relay.clients()) == 1


def test_same_content_without_message_id_is_deduplicated_by_hash(
    settings: Any, relay: Any, service_factory: Any
) -> None:
    raw = (
        b"From: client@client.example\r\nTo: klienti@example.lv\r\nSubject: sniegs\r\n\r\n"
        b"Netiek tirits sniegs pagalma.\r\n"
    )
    with service_factory(settings) as service:
        send(service.smtp_port, raw)
        send(service.smtp_port, raw)
        wait_until(lambda: relay.staff(), what="notification")
        assert len(rows(service, Inquiry)) == 1
        assert rows(service, Receipt)[0].natural_id.startswith("sha256:")


def test_unknown_recipient_is_refused_with_550(settings: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(service.smtp_port, client_mail("x", "y"), rcpt="someone@example.lv")
        code, text = refused.value.recipients["someone@example.lv"]
        assert code == 550
        assert b"customer-service addresses" in text
        assert rows(service, Receipt) == []


def test_garbage_with_a_null_sender_is_filed_as_automatic_and_the_listener_keeps_working(
    settings: Any, relay: Any, service_factory: Any
) -> None:
    """An empty envelope sender makes any message automatic (RFC 3834), so even bytes that are no
    mail are filed (with their raw bytes kept), not parked for a retry that cannot help (issue 14)."""
    import httpx

    garbage = b"\x00\xff\xfe not a mail at all \x81\x82\r\n\r\n\xff"
    with service_factory(settings) as service:
        send(service.smtp_port, garbage, sender="")  # null envelope sender, no From: nobody to answer
        wait_until(lambda: [r for r in rows(service, Receipt) if r.status == "processed"], what="the receipt filed")
        send(service.smtp_port, client_mail("Lifts", "Mājā nestrādā lifts."))
        wait_until(lambda: relay.staff(), what="the next message still processed")
        health = httpx.get(f"http://127.0.0.1:{service.http_port}/health", timeout=10).json()
        receipts = rows(service, Receipt)
    automatic = [r for r in receipts if (r.meta.get("outcome") or {}).get("automatic")]
    assert len(automatic) == 1 and automatic[0].raw.startswith(garbage)  # SMTP ends the data with CRLF
    assert health["receipts"].get("parked", 0) == 0
    assert health["receipts"]["processed"] == 2
    assert health["components"]["smtp_listener"] == "listening"
    assert len(relay.clients()) == 1, "only the client who wrote is acknowledged"


@pytest.mark.slow  # waits through the outbox backoff
def test_notifications_wait_while_relay_is_down_and_all_arrive_once(
    make_settings: Any, relay: Any, service_factory: Any
) -> None:
    settings = make_settings(
        outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"},
        outbox={"max_attempts": 1000, "poll_seconds": 0.2, "backoff_base_seconds": 0.2, "backoff_max_seconds": 0.5},
    )
    relay.stop()
    with service_factory(settings) as service:
        for i in range(5):
            send(
                service.smtp_port,
                client_mail(f"Rēķins {i}", f"Lūdzu, pārbaudiet rēķinu nr. {i}.", message_id=f"r{i}@c"),
            )
        wait_until(
            lambda: (outbox := rows(service, Outbox)) and len(outbox) == 6 and all(o.attempts >= 2 for o in outbox),
            what="every notification to have failed at least twice",
        )
        assert all(o.status in ("pending", "sending") for o in rows(service, Outbox))
        assert relay.messages == []
        relay.start()
        wait_until(lambda: all(o.status == "sent" for o in rows(service, Outbox)), what="all sent", timeout=30)
    # Five notifications; one client wrote five times, and the acknowledgement rate limit let one through.
    assert len(relay.staff()) == 5 and len(relay.clients()) == 1
    assert len(set(m["Message-ID"] for m in relay.parsed())) == len(relay.messages)


def test_relay_permanent_refusal_is_recorded_as_failed(settings: Any, relay: Any, service_factory: Any) -> None:
    relay.reply = "554 5.7.1 Rejected by policy"
    with service_factory(settings) as service:
        send(service.smtp_port, client_mail("Apkure", "Nav apkures."))
        wait_until(
            lambda: len([o for o in rows(service, Outbox) if o.status == "failed"]) == 2, what="both rows failed"
        )
        outbox = rows(service, Outbox)
        events = [e.type for e in rows(service, Event)]
    assert {o.kind for o in outbox} == {"staff_notification", "client_ack"}
    assert all(o.attempts == 1 and "554" in (o.last_error or "") for o in outbox)
    assert "notification_failed" in events


def test_reply_with_reference_joins_the_inquiry(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        send(service.smtp_port, client_mail("Jumts tek", "Mūsu mājā tek jumts.", message_id="first@c"))
        wait_until(lambda: relay.staff(), what="first notification")
        reference = rows(service, Inquiry)[0].reference
        follow = client_mail(f"Re: [{reference}] Jumts tek", "Papildinu: tek arī kāpņu telpā.", message_id="second@c")
        send(service.smtp_port, follow)
        reply = client_mail("Re: Jumts tek", "Un vēl viens foto.", message_id="third@c")
        reply["In-Reply-To"] = "<first@c>"
        send(service.smtp_port, reply)
        wait_until(lambda: len(relay.staff()) == 3, what="two follow-up notifications")
        assert len(rows(service, Inquiry)) == 1
        assert len(rows(service, Message)) == 3


def test_reference_tag_from_another_client_opens_a_new_inquiry(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        send(service.smtp_port, client_mail("Jumts tek", "Mūsu mājā tek jumts."))
        wait_until(lambda: relay.staff(), what="first notification")
        reference = rows(service, Inquiry)[0].reference
        other = client_mail(f"[{reference}] Jumts", "Es arī!", sender="stranger@client.example")
        send(service.smtp_port, other, sender="stranger@client.example")
        wait_until(lambda: len(rows(service, Inquiry)) == 2, what="a second inquiry")
