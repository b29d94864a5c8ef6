"""Automatic mail decided in one place (issue 14): bounces with an empty envelope sender and odd
From lines are kept without an inquiry; a web form's mail (Auto-Submitted: auto-generated) opens an
inquiry under the person its Reply-To names and is never acknowledged; a newsletter from a sender
the office listed is kept without one; a single-label sender domain is stored, never written to.
Over real SMTP, on both databases."""

from __future__ import annotations

import smtplib
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest.inquiries.explain import explain
from storage.models import Contact, Inquiry, Outbox, Receipt
from tests.smtp_helpers import PUBLIC, rows
from tests.support import wait_until

NEWS = "*@zinas.example.lv"


def _mail(head: str, subject: str, body: str = "Labdien!") -> bytes:
    text = f"{head}To: {PUBLIC}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test.example>\r\n"
    return f"{text}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n".encode()


def _dsn(head: str, subject: str) -> bytes:
    """A delivery status notification as MTAs write them (RFC 3464)."""
    return (
        f"{head}To: {PUBLIC}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@mx.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        "Final-Recipient: rfc822; nav@client.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b1--\r\n"
    ).encode()


def _send(port: int, envelope: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(envelope, [PUBLIC], raw)


def _decided(service: Any, n: int) -> list[Receipt]:
    def done() -> list[Receipt] | None:
        receipts = rows(service, Receipt)
        return receipts if len(receipts) == n and all(r.status != "pending" for r in receipts) else None

    found: list[Receipt] = wait_until(done, what=f"{n} receipts decided")
    return found


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(email={"never_inquiry_senders": [NEWS]})


@pytest.mark.slow  # a running service
def test_bounces_with_an_empty_envelope_sender_and_odd_from_are_kept(settings: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        _send(service.smtp_port, "", _mail("From: E500_SMTP_Mail_Service <smtp@corp.example>\r\n", "odd-1"))
        _send(service.smtp_port, "", _dsn("From: <>\r\n", "odd-2"))
        _send(service.smtp_port, "", _dsn("From: MAILER-DAEMON@[192.0.2.7]\r\n", "odd-3"))
        _send(service.smtp_port, "", _mail("From: System Administrator\r\n", "odd-4"))
        done = _decided(service, 4)
        inquiries, outbox = rows(service, Inquiry), rows(service, Outbox)
    assert [r.status for r in done] == ["processed"] * 4, "filed, none parked"
    kinds = [(r.meta["outcome"]["automatic"], r.meta["outcome"]["why"]) for r in done]
    assert kinds[0] == ("auto-reply", "empty envelope sender (MAIL FROM:<>)")
    assert kinds[1] == kinds[2] == ("bounce", "delivery report (multipart/report; report-type=delivery-status)")
    assert kinds[3][0] == "auto-reply"
    assert inquiries == [] and outbox == []


@pytest.mark.slow  # a running service
def test_a_web_form_opens_an_inquiry_for_its_reply_to_person_without_acknowledgement(
    settings: Any, service_factory: Any, relay: Any
) -> None:
    head = (
        "From: Mājaslapas forma <noreply@forms.example.lv>\r\nReply-To: Anna Bērziņa <anna.berzina@pasts.example>\r\n"
        "Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\n"
    )
    with service_factory(settings) as service:
        _send(service.smtp_port, "bounces@forms.example.lv", _mail(head, "form-1", "Netiek izvesti atkritumi."))
        (receipt,) = _decided(service, 1)
        (inquiry,) = rows(service, Inquiry)
        contacts, outbox = rows(service, Contact), rows(service, Outbox)
        with service.sessions() as session:
            told = explain(session, reference=inquiry.reference, tz=ZoneInfo("Europe/Riga")).lines
    assert any(
        "automatic mail (generated: Auto-Submitted: auto-generated): never acknowledged, the client from its Reply-To"
        in line
        for line in told
    ), told
    assert receipt.meta["outcome"] == {
        "automatic": "generated",
        "why": "Auto-Submitted: auto-generated",
        "acknowledge": False,
        "contact": "reply-to",
    }
    (contact,) = contacts
    assert contact.id == inquiry.contact_id
    assert (contact.email, contact.name) == ("anna.berzina@pasts.example", "Anna Bērziņa")
    assert [o.kind for o in outbox] == ["staff_notification"], "the employee is told, the form is not answered"


@pytest.mark.slow  # a running service
def test_a_newsletter_from_a_listed_sender_is_kept_without_an_inquiry(settings: Any, service_factory: Any) -> None:
    head = (
        "From: Ziņas <info@zinas.example.lv>\r\nPrecedence: bulk\r\n"
        "List-Unsubscribe: <mailto:unsubscribe@zinas.example.lv>\r\n"
    )
    unlisted = "From: Portāls <portals@other.example.lv>\r\nPrecedence: bulk\r\n"
    with service_factory(settings) as service:
        _send(service.smtp_port, "bounce@zinas.example.lv", _mail(head, "news-1", "Jaunumi šonedēļ."))
        _send(service.smtp_port, "portals@other.example.lv", _mail(unlisted, "bulk-2", "Jums ir jauns rēķins."))
        news, bulk = _decided(service, 2)
        inquiries = rows(service, Inquiry)
    assert news.meta["outcome"] == {
        "automatic": "never-inquiry",
        "why": f"sender listed in [email] never_inquiry_senders ({NEWS})",
        "from": "info@zinas.example.lv",
        "subject": "news-1",
    }
    assert news.message_id is None
    assert bulk.meta["outcome"]["automatic"] == "list" and bulk.message_id is not None
    assert len(inquiries) == 1, "bulk mail from an unlisted sender is a client's matter"


@pytest.mark.slow  # a running service
def test_a_single_label_sender_domain_is_stored_and_never_written_to(settings: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        _send(service.smtp_port, "guest@localhost", _mail("From: guest@localhost\r\n", "guest-1", "Sveiki!"))
        _decided(service, 1)
        (inquiry,) = rows(service, Inquiry)
        contacts, outbox = rows(service, Contact), rows(service, Outbox)
    assert [c.email for c in contacts] == ["guest@localhost"]
    assert all(o.recipient != "guest@localhost" for o in outbox)
    assert [o.kind for o in outbox] == ["staff_notification"]
    assert inquiry.channel == "email"
