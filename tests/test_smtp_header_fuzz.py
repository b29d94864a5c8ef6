"""A fuzz run of the SMTP path (issue 14): messages with their headers in random order and random
ones missing or broken, sent over real SMTP with a random envelope sender. Nothing that has a
usable address in any of envelope sender, From, Reply-To or Sender is parked: it becomes an
inquiry, a follow-up or automatic mail, each with its outcome."""

from __future__ import annotations

import random
import smtplib
from typing import Any

import pytest

from storage.models import Receipt
from tests.smtp_helpers import PUBLIC, rows
from tests.support import wait_until

SEED = 20261130
CASES = 60
GOOD = ("anna@client.example", "Jānis Ozoliņš <janis@client.example>", '"Liepa, Marta" <marta@client.example>')
BAD = ("", "<>", "nobody", "@example.lv", "Undisclosed recipients:;", "a@b@c", "=?utf-8?q?broken")


def case(rng: random.Random, n: int) -> tuple[str, bytes, bool]:
    """(envelope sender, message, whether some address in it is usable)."""
    usable = False
    headers = [f"To: {PUBLIC}", f"Subject: Atkritumi {n}"]
    for name in ("From", "Sender", "Reply-To"):
        roll = rng.random()
        if roll < 0.35:
            headers.append(f"{name}: {rng.choice(GOOD)}")
            usable = True
        elif roll < 0.7:
            headers.append(f"{name}: {rng.choice(BAD)}")
    if rng.random() < 0.7:
        headers.append(f"Message-ID: <fuzz-{SEED}-{n}@client.example>")
    if rng.random() < 0.5:
        headers.append("Date: Mon, 30 Nov 2026 09:00:00 +0200")
    if rng.random() < 0.3:
        headers.append("Content-Type: text/plain; charset=utf-8")
    rng.shuffle(headers)
    envelope = rng.choice(("", "bounce@relay.example", "client@client.example"))
    usable = usable or bool(envelope)
    body = "\r\n".join(headers) + "\r\n\r\nLabdien! Netiek izvesti atkritumi no Brīvības ielas 12.\r\n"
    return envelope, body.encode(), usable


@pytest.mark.slow  # a running service, 60 messages
def test_no_message_with_a_usable_address_anywhere_is_parked(make_settings: Any, service_factory: Any) -> None:
    rng = random.Random(SEED)
    cases = [case(rng, n) for n in range(CASES)]
    with service_factory(make_settings()) as service:
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=30) as smtp:
            for envelope, raw, _ in cases:
                smtp.sendmail(envelope, [PUBLIC], raw)

        def decided() -> list[Receipt] | None:
            found = rows(service, Receipt)
            return found if len(found) == CASES and all(r.status != "pending" for r in found) else None

        receipts = wait_until(decided, timeout=120, what="every fuzzed message decided")
    by_order = sorted(receipts, key=lambda r: r.id or 0)
    parked = [(n, r.last_error) for n, ((_, _, usable), r) in enumerate(zip(cases, by_order, strict=True))
              if usable and r.status != "processed"]  # fmt: skip
    assert parked == []
    assert sum(1 for *_, usable in cases if usable) >= CASES * 3 // 4  # the run covers the usable shapes
    assert all(r.meta.get("outcome") or r.message_id for r in by_order if r.status == "processed")
