"""Subjects read back exactly as they were written (issue 13, "headers that survive every mail
client"): the standard library's own folding lost the space between two encoded words
("atbildētlīdz"). Fifty generated long subjects in Latvian, Russian and with emoji, decoded by the
modern parser and by the compat32 decoder, and sent through the real SMTP transport to aiosmtpd."""

from __future__ import annotations

import random
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from typing import Any

import pytest

from ingest.outgoing.mail_transport import SmtpRelay, build_email, header_text

WORDS = (
    "Šodien",
    "termiņš:",
    "atbildēt",
    "līdz",
    "26.11.2026",
    "17:00",
    "Jauns",
    "klienta",
    "pieprasījums",
    "Siltumapgāde",
    "un",
    "karstais",
    "ūdens",
    "Nokavēts",
    "—",
    "valdei",
    "konteiners",
    "ielā",
    "Brīvības",
    "12",
    "ledus",
    "lāstekas",
    "jumts",
    "ietve",
    "Новое",
    "обращение",
    "клиента",
    "Вывоз",
    "мусора",
    "ответить",
    "до",
    "отопление",
    "горячая",
    "вода",
    "Re:",
    "Fwd:",
    "Atb:",
    "😀",
    "🚮",
    "❄️",
    "[GK-2026-000123]",
    "a",
    "b",
    "c",
)


def subjects(count: int = 50) -> list[str]:
    rng = random.Random(13)
    out = []
    for n in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 40))]
        out.append(f"[GK-2026-{n:06d}] " + " ".join(words))
    return out


def payload(subject: str) -> dict[str, Any]:
    return {
        "from": ["Klientu apkalpošana", "klienti@example.lv"], "to": ["Jānis Kalniņš", "janis@example.lv"],
        "subject": subject, "text": "Teksts.", "message_id": "x@example.lv", "date": "Wed, 11 Mar 2026 10:00:00 +0200",
    }  # fmt: skip


def test_every_subject_decodes_to_the_text_written_by_both_decoders() -> None:
    for subject in subjects():
        raw = build_email(payload(subject)).as_bytes()
        header_lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert all(len(line) <= 78 for line in header_lines), subject
        expected = header_text(subject)
        assert message_from_bytes(raw, policy=policy.default)["Subject"] == expected
        old = message_from_bytes(raw, policy=policy.compat32)["Subject"]
        assert str(make_header(decode_header(old))) == expected


def test_the_subjects_arrive_whole_through_smtp(relay: Any) -> None:
    sent = subjects()
    transport = SmtpRelay(host="127.0.0.1", port=relay.port)
    for subject in sent:
        transport.send(build_email(payload(subject)), name="test")
    assert [m["Subject"] for m in relay.parsed()] == [header_text(s) for s in sent]


@pytest.mark.slow  # a running service, 50 client e-mails through the real outbox
def test_every_message_the_outbox_sends_arrives_with_the_subject_it_was_rendered_with(
    make_settings: Any, relay: Any, service_factory: Any
) -> None:
    """Fifty clients write with long generated subjects (each from their own address, so every one is
    acknowledged): every staff notification and acknowledgement leaves through the outbox and the SMTP
    transport, and each decoded Subject at the relay is exactly the one stored when it was rendered."""
    from sqlmodel import Session, select

    from storage.models import Outbox
    from tests.smtp_helpers import client_mail, send
    from tests.support import wait_until

    settings = make_settings(outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"})
    written = subjects()
    with service_factory(settings) as service:
        for n, subject in enumerate(written):
            sender = f"client{n}@client.example"
            send(service.smtp_port, client_mail(subject, "Labdien! Lūdzu, palīdziet.", sender=sender), sender=sender)
        wait_until(lambda: len(relay.messages) >= 2 * len(written), what="every notification and acknowledgement",
                   timeout=120)  # fmt: skip
        with Session(service.engine) as session:
            rendered = {row.payload["message_id"]: row.payload["subject"] for row in session.exec(select(Outbox))}
    arrived = {m["Message-ID"].strip("<>"): m["Subject"] for m in relay.parsed()}
    assert len(arrived) == 2 * len(written)
    assert arrived == {mid: header_text(subject) for mid, subject in rendered.items() if mid in arrived}
    assert sum(any(word in s for word in ("Šodien", "Новое", "😀")) for s in arrived.values()) > 10, "generated text"
