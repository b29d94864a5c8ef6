"""Only staff and the office write notes (issue 15, item 5), through the real pipeline.

Mail in the office's own name (``From: klienti@example.lv``) that is no copy of ours came from
outside: kept on its receipt as suspicious and shown on the inquiry it points at, never filed
there as a message of the office, whether it answers our acknowledgement or is sent to the
inquiry's reply address, and whether or not it says it is an auto-reply. The client's own
auto-reply to our acknowledgement is an automatic message with its event, not a note.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from sqlmodel import Session, col, select

from ingest.pipeline.arrival import Outcome
from storage.models import Event, Inquiry, Message, Outbox, Receipt
from tests.pipeline_office import PipelineOffice, pipeline_office

CLIENT = "anna@client.example"
OFFICE = "klienti@example.lv"
FORGED = "Jūsu pieprasījums ir atrisināts, vairs nerakstiet."


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings()) as office:
        yield office


def mail(sender: str, to: str, text: str, message_id: str, *, in_reply_to: str = "", auto: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Re: Lifts"
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    if auto:
        msg["Auto-Submitted"] = auto
    msg.set_content(text)
    return msg.as_bytes()


def deliver(world: PipelineOffice, raw: bytes, envelope_from: str) -> tuple[int, Outcome]:
    channel = world.pipeline.channels["email"]
    stored = world.store.store_sync(channel, source="smtp", raw=raw, meta={"envelope_from": envelope_from})
    return stored.id, world.pipeline.process(stored.id)


def rows(world: PipelineOffice, model: Any) -> list[Any]:
    with Session(world.engine) as session:
        return list(session.exec(select(model).order_by(col(model.id))).all())


def test_mail_in_the_office_name_is_kept_as_suspicious_and_never_filed(world: PipelineOffice) -> None:
    _, outcome = deliver(world, mail(CLIENT, OFFICE, "Mājā nestrādā lifts.", "<lift-1@client.example>"), CLIENT)
    assert outcome == Outcome.NEW_INQUIRY
    (inquiry,) = rows(world, Inquiry)
    (ack,) = [o for o in rows(world, Outbox) if o.kind == "client_ack"]
    ack_id = "<" + ack.external_id.removeprefix("mid:") + ">"
    outbox_before = len(rows(world, Outbox))

    # In our name, answering our acknowledgement; the same as an "auto-reply"; to the reply address.
    forgeries = [
        mail(f"Klientu apkalpošana <{OFFICE}>", OFFICE, FORGED, "<f1@evil.example>", in_reply_to=ack_id),
        mail(OFFICE, OFFICE, FORGED, "<f2@evil.example>", in_reply_to=ack_id, auto="auto-replied"),
        mail(OFFICE, world.pipeline.office.notices.reply_address(inquiry), FORGED, "<f3@evil.example>"),
    ]
    forged_ids = []
    for raw in forgeries:
        receipt_id, outcome = deliver(world, raw, "attacker@evil.example")
        assert outcome == Outcome.AUTOMATIC
        forged_ids.append(receipt_id)

    messages = rows(world, Message)
    assert [m.direction for m in messages] == ["in"], "nothing in the office's name was filed on the inquiry"
    assert not [m for m in messages if FORGED in m.text]
    assert len(rows(world, Outbox)) == outbox_before, "nothing was sent on because of them"
    suspicious = [e for e in rows(world, Event) if e.type == "suspicious_mail"]
    assert [(e.inquiry_id, e.data["receipt_id"], e.actor) for e in suspicious] == [
        (inquiry.id, r, "system") for r in forged_ids
    ]
    receipts = {r.id: r for r in rows(world, Receipt)}
    for receipt_id in forged_ids:
        kept = receipts[receipt_id]  # never lost: the bytes and the reason stay on the receipt
        assert kept.status == "processed" and b"@evil.example>" in kept.raw
        assert kept.meta["outcome"]["automatic"] == "own" and "from outside" in kept.meta["outcome"]["suspicious"]
        assert kept.meta["outcome"]["inquiry_id"] == inquiry.id and kept.message_id is None

    # A copy of our own acknowledgement read back (its Message-ID is ours): marked, nothing else.
    copy_id, outcome = deliver(world, mail(OFFICE, CLIENT, "Paldies!", ack_id), OFFICE)
    assert outcome == Outcome.AUTOMATIC
    copy = next(r for r in rows(world, Receipt) if r.id == copy_id)
    assert copy.meta["outcome"]["copy_of_outbox"] == ack.id and "suspicious" not in copy.meta["outcome"]
    assert len([e for e in rows(world, Event) if e.type == "suspicious_mail"]) == 3


def test_the_clients_auto_reply_to_our_acknowledgement_is_an_automatic_message(world: PipelineOffice) -> None:
    deliver(world, mail(CLIENT, OFFICE, "Mājā nestrādā lifts.", "<lift-1@client.example>"), CLIENT)
    (ack,) = [o for o in rows(world, Outbox) if o.kind == "client_ack"]
    ack_id = "<" + ack.external_id.removeprefix("mid:") + ">"
    away = "Esmu atvaļinājumā līdz 1. decembrim."
    _, outcome = deliver(
        world, mail(CLIENT, OFFICE, away, "<ooo@client.example>", in_reply_to=ack_id, auto="auto-replied"), CLIENT
    )
    assert outcome == Outcome.THREADED
    messages = rows(world, Message)
    assert [m.direction for m in messages] == ["in", "automatic"]
    assert "note" not in {m.direction for m in messages}
    (event,) = [e for e in rows(world, Event) if e.type == "automatic_auto-reply"]
    assert event.data["message_id"] == messages[1].id and event.actor == "system"
    assert messages[1].sender == CLIENT and away in messages[1].text
