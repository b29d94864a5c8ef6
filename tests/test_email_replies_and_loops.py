"""E-mail in full: staff answer by replying, notes from others, auto-replies and bounces never loop.

Everything goes through the real SMTP listener and a real aiosmtpd relay.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from storage.models import Contact, Event, Inquiry, Message, Outbox, Receipt
from tests.smtp_helpers import CLIENT, client_mail, rows, send
from tests.staff_proof_helpers import STAFF_REPLIES, vouch
from tests.support import wait_until


@pytest.fixture
def settings(make_settings: Any, relay: Any) -> Any:
    # Replies are vouched for by the office's mail server (its Authentication-Results): From alone proves nothing.
    return make_settings(
        outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"},
        staff_replies=STAFF_REPLIES,
    )


def reply_to(original: Any, *, sender: str, body: str, auto: str | None = None) -> EmailMessage:
    """A reply as a mail program writes it: to the Reply-To, threaded, with the quote below; as the
    office's mail server passes it on (its Authentication-Results: DKIM of the staff domain passed)."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(original["Reply-To"] or original["From"])
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    if auto:
        reply["Auto-Submitted"] = auto
    quoted = "\n".join("> " + line for line in original.get_content().splitlines())
    reply.set_content(f"{body}\n\nOn Wed, 25 Nov 2026 at 10:00, Klientu apkalpošana wrote:\n{quoted}\n")
    return vouch(reply)


def test_staff_answer_by_reply_reaches_the_client(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        send(
            service.smtp_port,
            client_mail(
                "Neizvesti atkritumi", "Netiek izvesti atkritumi no Brīvības ielas 12.", message_id="c1@client.example"
            ),
        )
        (notice,) = wait_until(lambda: relay.staff(), what="the staff notification")
        assert "+" in str(notice["Reply-To"]) and str(notice["Reply-To"]).startswith("klienti+")

        answer = reply_to(
            notice,
            sender="Jānis Kalniņš <janis.kalnins@example.lv>",
            body="Labdien! Atkritumi tiks izvesti rīt līdz plkst. 12.",
        )
        send(service.smtp_port, answer, rcpt=answer["To"].addresses[0].addr_spec, sender="janis.kalnins@example.lv")
        wait_until(
            lambda: [m for m in relay.clients() if "Atkritumi tiks izvesti" in m.get_content()],
            what="the answer at the client",
        )
        inquiry = rows(service, Inquiry)[0]
        events = [e for e in rows(service, Event) if e.type == "answered"]
        messages = rows(service, Message)

    delivered = [m for m in relay.clients() if "Atkritumi tiks izvesti" in m.get_content()]
    assert len(delivered) == 1
    out = delivered[0]
    assert out["To"].addresses[0].addr_spec == CLIENT
    assert out["From"].addresses[0].addr_spec == "klienti@example.lv"  # never the employee's address
    assert "janis.kalnins" not in out.as_string()
    assert f"[{inquiry.reference}]" in out["Subject"]
    assert out["In-Reply-To"] == "<c1@client.example>"
    assert "wrote:" not in out.get_content() and "> " not in out.get_content()  # the quote stays behind
    assert inquiry.status == "answered" and inquiry.answered_at is not None
    assert events[0].data["on_time"] is True and events[0].actor == "atkritumi-1"
    assert [m.direction for m in messages] == ["in", "out"]
    # Signed by the employee in the client's language (policy 8); the timeline keeps what the client got.
    signed = "Ar cieņu,\nJānis Kalniņš, Atkritumu apsaimniekošanas speciālists\nKlientu apkalpošana"
    assert signed in out.get_content().replace("\r\n", "\n")
    assert messages[1].text.startswith("Labdien! Atkritumi tiks izvesti") and signed in messages[1].text


def test_reply_from_someone_else_is_a_note_and_they_are_told_why(
    settings: Any, relay: Any, service_factory: Any
) -> None:
    with service_factory(settings) as service:
        send(service.smtp_port, client_mail("Apkure", "Nav apkures jau divas dienas."))
        (notice,) = wait_until(lambda: relay.staff(), what="the staff notification")
        other = reply_to(notice, sender="Dace Krūmiņa <dace.krumina@example.lv>", body="Es zinu šo māju, tur remonts.")
        send(service.smtp_port, other, rcpt=other["To"].addresses[0].addr_spec, sender="dace.krumina@example.lv")
        told = wait_until(
            lambda: [m for m in relay.staff() if m["To"].addresses[0].addr_spec == "dace.krumina@example.lv"],
            what="the colleague told why",
        )
        inquiry = rows(service, Inquiry)[0]
        messages = rows(service, Message)
    assert "Andris Ozols" in told[0].get_content()
    assert inquiry.status == "open"
    assert [m.direction for m in messages] == ["in", "note"]
    assert not [m for m in relay.clients() if "remonts" in m.get_content()]  # the client never sees notes


def test_out_of_office_answering_our_acknowledgement_does_not_loop(
    settings: Any, relay: Any, service_factory: Any
) -> None:
    with service_factory(settings) as service:
        send(service.smtp_port, client_mail("Lifts", "Nestrādā lifts.", message_id="lift@client.example"))
        (ack,) = wait_until(lambda: relay.clients(), what="the acknowledgement")
        # The client's out-of-office answers the acknowledgement, five times over (a storm),
        # once with the RFC 3834 header and then as broken responders do, without it.
        for i in range(5):
            ooo = reply_to(
                ack, sender=CLIENT, body="Esmu atvaļinājumā līdz 1. decembrim.", auto="auto-replied" if i == 0 else None
            )
            ooo.replace_header("Subject", f"Out of office: {ack['Subject']}")
            del ooo["Message-ID"]
            ooo["Message-ID"] = f"<ooo{i}@client.example>"
            send(service.smtp_port, ooo)
        wait_until(
            lambda: len(rows(service, Receipt)) == 6 and all(r.status == "processed" for r in rows(service, Receipt)),
            what="all processed",
        )
        service.outbox_worker.wake()
        wait_until(lambda: all(o.status == "sent" for o in rows(service, Outbox)), what="outbox drained")
        inquiries = rows(service, Inquiry)
    assert len(inquiries) == 1  # the auto-replies joined the inquiry, none opened another
    assert len(relay.clients()) == 1  # and none was acknowledged: no loop


def test_bounce_of_our_acknowledgement_marks_the_address(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        send(
            service.smtp_port,
            client_mail("Sniegs", "Nav notīrīts sniegs.", sender="gone@client.example"),
            sender="gone@client.example",
        )
        (ack,) = wait_until(lambda: relay.clients(), what="the acknowledgement")
        bounce = EmailMessage()
        bounce["From"] = "Mail Delivery System <MAILER-DAEMON@mx.client.example>"
        bounce["To"] = "klienti@example.lv"
        bounce["Subject"] = "Undelivered Mail Returned to Sender"
        bounce.set_content("This is the mail system. The address gone@client.example does not exist.")
        returned = EmailMessage()
        returned["Message-ID"] = ack["Message-ID"]
        returned["Subject"] = ack["Subject"]
        bounce.add_attachment(returned)
        bounce.replace_header(
            "Content-Type",
            bounce["Content-Type"].replace("multipart/mixed", "multipart/report; report-type=delivery-status"),
        )
        send(service.smtp_port, bounce, sender="")
        wait_until(
            lambda: [
                c for c in rows(service, Contact) if c.email == "gone@client.example" and c.email_undeliverable_at
            ],
            what="the address marked undeliverable",
        )
        # A new matter from that address (another topic: the same one would join the open inquiry):
        # routed and notified, but no acknowledgement into the void.
        send(
            service.smtp_port,
            client_mail("Apkure", "Radiatori ir auksti, dzīvoklī nav apkures.", sender="gone@client.example"),
            sender="gone@client.example",
        )
        wait_until(lambda: len(relay.staff()) == 2, what="the second notification")
        events = [e.type for e in rows(service, Event)]
        inquiries = rows(service, Inquiry)
    assert len(inquiries) == 2
    assert "automatic_bounce" in events and "client_ack_suppressed" in events
    assert len(relay.clients()) == 1


def test_our_own_mail_read_back_is_not_an_inquiry(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        own = EmailMessage()
        own["From"] = "Klientu apkalpošana <klienti@example.lv>"
        own["To"] = "klienti@example.lv"
        own["Subject"] = "[GK-2026-000001] Jauns klienta pieprasījums"
        own.set_content("Numurs: GK-2026-000001")
        send(service.smtp_port, own, sender="klienti@example.lv")
        wait_until(lambda: rows(service, Receipt) and rows(service, Receipt)[0].status == "processed", what="processed")
        assert rows(service, Inquiry) == []
        assert rows(service, Receipt)[0].meta["outcome"]["automatic"] == "own"


def test_note_and_close_commands_by_reply(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        text = "Netiek izvesti atkritumi no Brīvības ielas 12."
        send(service.smtp_port, client_mail("Neizvesti atkritumi", text, message_id="c9@client.example"))
        (notice,) = wait_until(lambda: relay.staff(), what="the staff notification")
        assert "#piezīme" in notice.get_content(), "the notification says how"
        note = reply_to(notice, sender="janis.kalnins@example.lv", body="#piezīme Zvanīju klientam, viss skaidrs.")
        send(service.smtp_port, note, rcpt=note["To"].addresses[0].addr_spec, sender="janis.kalnins@example.lv")
        wait_until(lambda: [m for m in rows(service, Message) if m.direction == "note"], what="the note")
        closing = reply_to(notice, sender="janis.kalnins@example.lv", body="#slēgt\nKlients tikai pateicās.")
        send(service.smtp_port, closing, rcpt=closing["To"].addresses[0].addr_spec, sender="janis.kalnins@example.lv")
        wait_until(lambda: rows(service, Inquiry)[0].status == "closed", what="the inquiry closed")
        notes = sorted(m.text for m in rows(service, Message) if m.direction == "note")
        assert notes == ["Klients tikai pateicās.", "Zvanīju klientam, viss skaidrs."]
        closed = [e for e in rows(service, Event) if e.type == "closed"]
        assert [e.data["reason"] for e in closed] == ["no_answer_needed"]
        to_client = [m for m in relay.clients() if "Zvanīju" in m.get_content() or "pateicās" in m.get_content()]
        assert to_client == [], "nothing of a command reaches the client"
