"""Staff replies must prove where they come from (issue 15, item 1), through the real pipeline.

``From`` alone proves nothing: a reply with the employee's address and the inquiry's reply
address is sent on to the client only with a valid DKIM signature of the staff domain (key made
here, served without DNS) or the office mail server's Authentication-Results. Otherwise it is
kept as a note and the employee told. ``#slēgt`` needs the same proof; a reply address dies a
grace period after the inquiry was closed, and at once with its erasure.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from ingest.outgoing.staff_texts import NOT_RELAYED_WHY
from ingest.pipeline.arrival import Outcome
from ingest.pipeline.staff_proof import parse_results, results_say_pass
from ingest.privacy.gdpr import erase_contact
from storage.db import transaction
from storage.models import Contact, Employee, Event, Inquiry, Message, Outbox, Receipt
from tests.pipeline_office import MAIL, PipelineOffice, pipeline_office
from tests.staff_proof_helpers import AUTHSERV_ID, STAFF_REPLIES, dkim_signed, new_dkim_key, vouch
from tests.support import write_config

ANSWER = "Labdien! Lifts tiks salabots rīt."


@pytest.fixture(scope="module")
def key() -> Any:
    return new_dkim_key()


@contextmanager
def office(make_settings: Callable[..., Any], **staff_replies: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings(staff_replies=staff_replies) if staff_replies else make_settings()) as world:
        deliver(world, MAIL)
        yield world


def deliver(world: PipelineOffice, raw: bytes) -> Outcome:
    stored = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=raw, meta={})
    return world.pipeline.process(stored.id)


def rows(world: PipelineOffice, model: Any) -> list[Any]:
    with Session(world.engine) as session:
        return list(session.exec(select(model).order_by(col(model.id))).all())


def the_inquiry(world: PipelineOffice) -> tuple[Inquiry, Employee]:
    (inquiry,) = rows(world, Inquiry)
    (responsible,) = [e for e in rows(world, Employee) if e.id == inquiry.employee_id]
    return inquiry, responsible


def reply(world: PipelineOffice, sender: str, text: str, n: int) -> bytes:
    """A reply to the inquiry's reply address (its token), From the given address."""
    inquiry, _ = the_inquiry(world)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = world.pipeline.office.notices.reply_address(inquiry)
    msg["Subject"] = "Re: Lifts"
    msg["Message-ID"] = f"<reply-{n}@example.lv>"
    msg.set_content(text)
    return msg.as_bytes()


def sent_to_client(world: PipelineOffice) -> list[Outbox]:
    return [o for o in rows(world, Outbox) if o.kind.startswith("client_") and o.kind != "client_ack"]


def told(world: PipelineOffice, employee: Employee) -> list[str]:
    """The texts of the "not sent on" e-mails the employee was sent."""
    return [
        o.payload["text"]
        for o in rows(world, Outbox)
        if o.kind == "staff_reply_not_relayed" and o.recipient == employee.email
    ]


def why(world: PipelineOffice, employee: Employee, reason: str, days: int = 14) -> str:
    """The reason as the employee reads it (in their language)."""
    return world.pipeline.notices.translations_for(employee).gettext(NOT_RELAYED_WHY[reason]) % {"days": days}


def did_not_close(world: PipelineOffice, employee: Employee) -> str:
    """The start of "your e-mail did not close the inquiry", in the employee's language."""
    text = world.pipeline.notices.translations_for(employee).gettext(
        "Your e-mail about inquiry %(reference)s did not close it: %(why)s."
    )
    return text.split("%(reference)s")[0]


def test_a_forged_reply_with_the_token_reaches_the_client_in_no_form(make_settings: Any) -> None:
    with office(make_settings) as world:  # nothing configured: nothing proves a reply
        inquiry, responsible = the_inquiry(world)
        forged = reply(world, responsible.email, "Jūsu pieprasījums ir atrisināts, vairs nerakstiet.", 1)
        assert deliver(world, forged) == Outcome.NOTE
        # Even a reply vouched for by a server nobody configured proves nothing.
        assert deliver(world, vouch(reply(world, responsible.email, "Otrreiz.", 2))) == Outcome.NOTE
        assert sent_to_client(world) == []
        assert [m.direction for m in rows(world, Message)] == ["in", "note", "note"]
        (first, _second) = told(world, responsible)
        assert why(world, responsible, "unverified") in first and inquiry.reference in first
        assert rows(world, Inquiry)[0].status == "open"


def test_a_dkim_signed_reply_is_sent_and_a_foreign_or_broken_signature_is_not(make_settings: Any, key: Any) -> None:
    keys = {"sel2026._domainkey.example.lv": key.public_record, "evil._domainkey.evil.example": key.public_record}
    with office(make_settings, accept=["dkim"], dkim_keys=keys) as world:
        _, responsible = the_inquiry(world)
        # Signed by another domain (valid, but not the staff domain); signed and then altered.
        foreign = dkim_signed(reply(world, responsible.email, "Svešs paraksts.", 1), key, selector="evil",
                              domain="evil.example")  # fmt: skip
        altered = dkim_signed(reply(world, responsible.email, "Pareizi.", 2), key).replace(b"Pareizi", b"Nepareizi")
        assert deliver(world, foreign) == Outcome.NOTE
        assert deliver(world, altered) == Outcome.NOTE
        assert sent_to_client(world) == [] and len(told(world, responsible)) == 2

        assert deliver(world, dkim_signed(reply(world, responsible.email, ANSWER, 3), key)) == Outcome.ANSWERED
        (answer,) = sent_to_client(world)
        assert ANSWER in answer.payload["text"]
        assert rows(world, Inquiry)[0].status == "answered"


def test_only_the_office_servers_topmost_authentication_results_count(make_settings: Any) -> None:
    with office(make_settings, **STAFF_REPLIES) as world:
        _, responsible = the_inquiry(world)
        foreign = vouch(reply(world, responsible.email, "Cits serveris.", 1), server="mx.evil.example")
        assert deliver(world, foreign) == Outcome.NOTE
        # The forger's own header with our authserv-id, below the one our server added on top.
        ours_fail = f"Authentication-Results: {AUTHSERV_ID}; dkim=none; dmarc=fail header.from=example.lv\r\n"
        below = ours_fail.encode() + vouch(reply(world, responsible.email, "Apakšā.", 2).replace(b"\n", b"\r\n"))
        assert deliver(world, below) == Outcome.NOTE
        assert sent_to_client(world) == []

        assert deliver(world, vouch(reply(world, responsible.email, ANSWER, 3))) == Outcome.ANSWERED
        assert len(sent_to_client(world)) == 1


def test_close_needs_the_proof_and_a_note_does_not(make_settings: Any) -> None:
    with office(make_settings, **STAFF_REPLIES) as world:
        inquiry, responsible = the_inquiry(world)
        assert deliver(world, reply(world, responsible.email, "#slēgt\nAtrisināts pa tālruni.", 1)) == Outcome.NOTE
        assert rows(world, Inquiry)[0].status == "open"
        (notice,) = told(world, responsible)
        assert did_not_close(world, responsible) in notice and why(world, responsible, "unverified") in notice
        assert deliver(world, reply(world, responsible.email, "#piezīme\nZvanīju klientam.", 2)) == Outcome.NOTE
        assert len(told(world, responsible)) == 1  # a note is harmless: kept, nobody told

        # A colleague the notification never went to closes nothing, even proven.
        other = next(e for e in rows(world, Employee) if e.id != responsible.id and e.role == "employee")
        assert deliver(world, vouch(reply(world, other.email, "#slēgt", 3))) == Outcome.NOTE
        assert rows(world, Inquiry)[0].status == "open"
        assert why(world, other, "not_yours") in told(world, other)[0]

        assert deliver(world, vouch(reply(world, responsible.email, "#slēgt\nAtrisināts.", 4))) == Outcome.NOTE
        assert rows(world, Inquiry)[0].status == "closed"
        assert sent_to_client(world) == []
        assert [m.direction for m in rows(world, Message)] == ["in", "note", "note", "note", "note"]
        assert inquiry.reference


def test_a_notice_about_a_forged_reply_gives_its_addressee_no_right_to_close(make_settings: Any) -> None:
    with office(make_settings, **STAFF_REPLIES) as world:
        _, responsible = the_inquiry(world)
        other = next(e for e in rows(world, Employee) if e.id != responsible.id and e.role == "employee")
        # A forger writes in a colleague's name: kept as a note, the colleague told that it was not sent on.
        assert deliver(world, reply(world, other.email, "Viltots.", 1)) == Outcome.NOTE
        assert told(world, other)
        # That notice went to the colleague, yet it handed them nothing: their proven answer is not
        # sent to the client, their proven #slēgt closes nothing.
        assert deliver(world, vouch(reply(world, other.email, ANSWER, 2))) == Outcome.NOTE
        assert deliver(world, vouch(reply(world, other.email, "#slēgt", 3))) == Outcome.NOTE
        assert sent_to_client(world) == []
        assert rows(world, Inquiry)[0].status == "open"


def test_a_reply_address_dies_a_grace_period_after_closing(make_settings: Any) -> None:
    with office(make_settings, **STAFF_REPLIES, token_grace_days=14) as world:
        _, responsible = the_inquiry(world)
        assert deliver(world, vouch(reply(world, responsible.email, "#slēgt", 1))) == Outcome.NOTE
        world.clock.now += timedelta(days=13)
        assert deliver(world, vouch(reply(world, responsible.email, "#piezīme\nVēl.", 2))) == Outcome.NOTE
        world.clock.now += timedelta(days=2)
        messages = len(rows(world, Message))
        assert deliver(world, vouch(reply(world, responsible.email, ANSWER, 3))) == Outcome.REFUSED
        assert len(rows(world, Message)) == messages and sent_to_client(world) == []
        assert why(world, responsible, "expired") in told(world, responsible)[-1]
        (refused,) = [e for e in rows(world, Event) if e.type == "staff_reply_refused"]
        assert refused.data["why"] == "expired"
        assert rows(world, Receipt)[-1].meta["outcome"]["staff_reply_refused"] == "expired"


def test_the_reply_address_of_an_erased_inquiry_never_works(make_settings: Any) -> None:
    with office(make_settings, **STAFF_REPLIES) as world:
        inquiry, responsible = the_inquiry(world)
        raw = vouch(reply(world, responsible.email, "Atbilde, citējot anna@client.example.", 1))
        with transaction(world.sessions) as session:
            contact = session.get(Contact, inquiry.contact_id)
            assert contact is not None
            erase_contact(session, contact, now=world.clock.now, actor="test")
        before = (len(rows(world, Message)), len(rows(world, Event)))
        # Refused here, or dropped earlier by the erasure's own step (ingest/privacy) where it runs.
        outcome = deliver(world, raw)
        assert outcome in (Outcome.REFUSED, Outcome.AUTOMATIC)
        assert (len(rows(world, Message)), len(rows(world, Event))) == before, "nothing stored on it again"
        assert sent_to_client(world) == []
        if outcome == Outcome.REFUSED:
            assert why(world, responsible, "erased") in told(world, responsible)[-1]


def test_authentication_results_parsing() -> None:
    value = (f"{AUTHSERV_ID} 1; (a comment; with =) dkim=pass (ok) header.d=\"example.lv\" header.s=s;\r\n"
             "\tdmarc=pass header.from=example.lv; spf=fail smtp.mailfrom=x@evil.example")  # fmt: skip
    server, results = parse_results(value)
    assert server == AUTHSERV_ID
    assert results[0] == ("dkim", "pass", {"header.d": "example.lv", "header.s": "s"})
    assert results_say_pass([value], authserv_id=AUTHSERV_ID, domain="example.lv")
    assert not results_say_pass([value], authserv_id=AUTHSERV_ID, domain="evil.example")
    assert not results_say_pass([f"{AUTHSERV_ID}; dkim=pass header.d=example.lv.evil.example"],
                                authserv_id=AUTHSERV_ID, domain="example.lv")  # fmt: skip
    assert not results_say_pass(["other.example; dkim=pass header.d=example.lv"], authserv_id=AUTHSERV_ID,
                                domain="example.lv")  # fmt: skip


def test_check_config_warns_while_nothing_proves_a_staff_reply(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "check-config", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0 and "[staff_replies] accept is empty" in run.stderr
    text = (
        path.read_text(encoding="utf-8").replace("# accept = [", "accept = [").replace("# authserv_id", "authserv_id")
    )
    path.write_text(text, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "check-config", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0 and "staff_replies" not in run.stderr, run.stderr
