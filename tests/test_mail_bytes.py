"""The folder transport's bytes of a notification are the standard generator's, byte for byte."""

from __future__ import annotations

import random
from email import policy
from email.message import EmailMessage
from typing import Any

from ingest.outgoing.mail_bytes import _direct, message_bytes
from ingest.outgoing.mail_transport import build_email

WORDS = ("Jūsu", "pieteikums", "atkritumu", "izvešana", "Ваша", "заявка", "принята", "inquiry", "received",
         "līdz", "Mūrnieku", "iela", "21", "k-2", "=?utf-8?q?x?=", "a;b", '"quoted"', "x" * 90, "ё", "\t")  # fmt: skip


def payloads(count: int) -> list[dict[str, Any]]:
    rng = random.Random(17)
    out = []
    for n in range(count):
        lines = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 30))) for _ in range(rng.randint(0, 8)))
        text = "\n".join(lines)
        out.append({
            "from": [rng.choice(["Klientu apkalpošana", "Office", "", "A, B"]), "klienti@example.lv"],
            "to": [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4))), f"k{n}@example.lv"],
            "subject": f"[GK-2026-{n:06d}] " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 25))),
            "text": text + rng.choice(["", "\n", "\r\n", " \n.\nFrom x\n"]),
            "message_id": f"gk-{n}@example.lv", "date": "Wed, 11 Mar 2026 10:00:00 +0200",
            "in_reply_to": rng.choice([None, f"c{n}@client.example"]),
            "headers": {"Reply-To": "klienti@example.lv", "X-Inquiry-Reference": f"GK-2026-{n:06d}",
                        "X-Long": "y" * rng.choice([10, 80, 200])},
        })  # fmt: skip
    return out


def test_notifications_are_written_as_the_standard_generator_writes_them() -> None:
    built = [build_email(p) for p in payloads(400)]
    assert all(message_bytes(m) == m.as_bytes() for m in built)
    # Both ways are taken: written directly, and (long or non-ASCII headers) by the generator.
    direct = sum(_direct(m) is not None for m in built)
    assert 50 < direct < 350


def test_messages_it_does_not_write_itself_go_to_the_generator() -> None:
    with_object = EmailMessage(policy=policy.SMTP)
    with_object["Subject"] = "Jūsu pieteikums " + "garš " * 30  # a header object, folded by the generator
    with_object.set_content("Teksts ar garumzīmēm.")  # 8-bit body
    multipart = EmailMessage(policy=policy.SMTP)
    multipart.set_content("text")
    multipart.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    lf = build_email(payloads(1)[0])
    lf.policy = policy.default  # LF line ends
    for message in (with_object, multipart, lf):
        assert message_bytes(message) == message.as_bytes()
