"""The phone channel (policy clause 6.3): Twilio Voice callbacks and imported call logs.

A missed call from a client becomes a "call back" inquiry with a deadline and a staff
notification; an answered call, an internal one and a repeated one open nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from channels.calls import CallChannel, encode, normalise_number, twilio_call_document
from storage.models import Contact, Inquiry, Message, Outbox, Receipt
from tests.support import DATA, ROOT, wait_until
from tests.twilio_helpers import ACCOUNT, signed_post, twilio_section

INGEST = [sys.executable, "-m", "ingest.cli"]
VOICE = "/webhooks/twilio/voice-status"
MASTER = DATA / "own" / "asterisk-Master.csv"
COORDINATOR = "ilze.berzina@example.lv"


def rows(engine: Any, model: Any) -> list[Any]:
    with Session(engine) as session:
        return list(session.exec(select(model)).all())


def voice_fields(
    sid: str, *, status: str, sender: str = "+37120000001", when: datetime | None = None
) -> list[tuple[str, str]]:
    when = when or datetime.now(UTC)
    return [
        ("Called", "+37167000100"),
        ("ToState", ""),
        ("CallerCountry", "LV"),
        ("Direction", "inbound"),
        ("Timestamp", format_datetime(when)),
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", "0"),
        ("CallerState", ""),
        ("ToZip", ""),
        ("CallSid", sid),
        ("To", "+37167000100"),
        ("CallerZip", ""),
        ("ToCountry", "LV"),
        ("CalledZip", ""),
        ("ApiVersion", "2010-04-01"),
        ("CalledCity", ""),
        ("CallStatus", status),
        ("Duration", "0" if status != "completed" else "2"),
        ("From", sender),
        ("CallDuration", "0" if status != "completed" else "95"),
        ("AccountSid", ACCOUNT),
        ("CalledCountry", "LV"),
        ("CallerCity", ""),
        ("Caller", sender),
        ("FromCountry", "LV"),
        ("ToCity", ""),
        ("FromCity", ""),
        ("CalledState", ""),
        ("FromZip", ""),
        ("FromState", ""),
    ]


# --- the channel, without I/O -------------------------------------------------------------------


def test_numbers_and_documents() -> None:
    assert normalise_number("20000001") == "+37120000001"
    assert normalise_number("67 000 100") == "+37167000100"
    assert normalise_number("0037129998877") == "+37129998877"
    assert normalise_number("37129998877") == "+37129998877"
    assert normalise_number("+44 20 7946 0000") == "+442079460000"
    assert normalise_number("101") == "101"  # an extension stays as it is
    fields = {k: [v] for k, v in voice_fields("CA1", status="ringing")}
    assert twilio_call_document(fields, now=datetime.now(UTC)) is None  # progress is not stored
    when = datetime(2026, 11, 25, 8, 15, tzinfo=UTC)
    fields = {k: [v] for k, v in voice_fields("CA1", status="no-answer", when=when)}
    doc = twilio_call_document(fields, now=datetime.now(UTC))
    assert doc is not None and doc["answered"] is False and doc["start"] == when.isoformat()
    channel = CallChannel()
    raw = encode(doc)
    message = channel.normalise(raw, {})
    assert channel.natural_id(raw, {}) == "call:twilio-voice:CA1" == message.external_id
    assert message.channel == "phone" and message.sender_address == "+37120000001"
    assert message.text.startswith("Neatbildēts zvans no +37120000001 25.11.2026 10:15 — jāatzvana")
    assert message.subject.startswith("Neatbildēts zvans") and message.automatic is None
    assert message.received_at == when
    answered = {k: [v] for k, v in voice_fields("CA2", status="completed")}
    assert channel.normalise(encode(twilio_call_document(answered, now=when)), {}).automatic == "answered-call"


# --- Twilio Voice over HTTP ---------------------------------------------------------------------


@pytest.fixture
def voice_settings(make_settings: Any, relay: Any) -> Any:
    return make_settings(
        twilio=twilio_section(),
        outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"},
        client_messages={"acknowledge": False},
    )


def post(service: Any, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{service.http_port}{path}", timeout=30, **kwargs)


@pytest.mark.slow  # a running service and a Twilio Voice callback
def test_missed_twilio_call_becomes_a_call_back_inquiry(voice_settings: Any, relay: Any, service_factory: Any) -> None:
    missed = voice_fields("CA" + "a" * 32, status="no-answer", sender="+37120000001")
    answered = voice_fields("CA" + "b" * 32, status="completed", sender="+37120000002")
    with service_factory(voice_settings) as service:
        # Unsigned: refused, nothing stored.
        unsigned = post(
            service,
            VOICE,
            content=signed_post(VOICE, missed)["content"],
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert unsigned.status_code == 403
        assert rows(service.engine, Receipt) == []
        # A progress event stores nothing.
        assert (
            post(service, VOICE, **signed_post(VOICE, voice_fields("CA" + "c" * 32, status="ringing"))).status_code
            == 200
        )
        assert rows(service.engine, Receipt) == []
        # The missed call, and Twilio retrying the same callback.
        for _ in range(2):
            response = post(service, VOICE, **signed_post(VOICE, missed))
            assert response.status_code == 200 and response.text.endswith("<Response/>")
        assert post(service, VOICE, **signed_post(VOICE, answered)).status_code == 200
        receipts = rows(service.engine, Receipt)
        assert sorted(r.natural_id for r in receipts) == [
            f"call:twilio-voice:CA{'a' * 32}",
            f"call:twilio-voice:CA{'b' * 32}",
        ]
        assert all(r.channel == "phone" and r.source == "twilio-voice" for r in receipts)
        wait_until(lambda: all(r.status == "processed" for r in rows(service.engine, Receipt)), what="processed")
        (inquiry,) = rows(service.engine, Inquiry)
        assert inquiry.channel == "phone" and inquiry.subject.startswith("Neatbildēts zvans")
        assert inquiry.due_at is not None and inquiry.due_at > inquiry.received_at
        contact = next(c for c in rows(service.engine, Contact) if c.id == inquiry.contact_id)
        assert contact.phone == "+37120000001"
        (message,) = rows(service.engine, Message)
        assert "jāatzvana" in message.text
        # The answered call is kept, without an inquiry.
        answered_receipt = next(r for r in rows(service.engine, Receipt) if r.natural_id.endswith("b" * 32))
        assert answered_receipt.message_id is None and answered_receipt.meta["outcome"]["automatic"] == "answered-call"
        staff = wait_until(
            lambda: [m for m in relay.staff() if inquiry.reference in str(m["Subject"])], what="staff mail"
        )
        assert any(COORDINATOR in str(m["To"]) for m in staff)
        body = staff[0].get_body(("plain",)).get_content()
        assert "+37120000001" in body and "jāatzvana" in body


# --- ingest import-calls ------------------------------------------------------------------------


def write_config(tmp_path: Path) -> Path:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('data_dir = "var"', f'data_dir = "{tmp_path / "var"}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# The call logs in tests/data are of November 2026: days old by now, outside any call-back window.
NO_WINDOW = {"INGEST__CALLS__CALLBACK_WINDOW": "off"}


def import_calls(
    tmp_path: Path,
    database_url: str,
    file: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path)
    return subprocess.run(
        [*INGEST, "import-calls", str(file), *extra, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "INGEST__DATABASE__URL": database_url, "LANGUAGE": "en", **(env or {})},
        timeout=timeout,
    )


@pytest.mark.slow  # real `ingest` processes
def test_asterisk_master_csv_import(
    tmp_path: Path, database_url: str, make_settings: Any, relay: Any, service_factory: Any
) -> None:
    run = import_calls(tmp_path, database_url, MASTER, "--format", "asterisk", env=NO_WINDOW)
    assert run.returncode == 1, run.stderr  # some lines were rejected
    out = run.stdout
    assert "12 rows" in out
    assert "imported:   5 (missed 3, answered 2)" in out
    assert "duplicates: 2" in out
    assert "internal:   2" in out
    assert "rejected:   3" in out
    assert "line 6: 15 columns" in out
    assert "line 7: bad start date '2026-11-32 11:30:00'" in out
    assert "line 8: unterminated quote" in out
    assert "call-back inquiries opened: 3" in out
    assert "stored 5/5" in run.stderr  # the progress shown

    engine = create_engine(database_url)
    try:
        receipts = rows(engine, Receipt)
        assert len(receipts) == 5 and all(r.channel == "phone" and r.source == "asterisk-cdr" for r in receipts)
        ids = {r.natural_id for r in receipts}
        assert "call:asterisk:1764054843.2593" in ids and "call:asterisk:1764068520.2607" in ids
        # The ring group: one leg unanswered, the other answered -> one answered call.
        ring = next(r for r in receipts if r.natural_id == "call:asterisk:1764068520.2607")
        assert json.loads(ring.raw)["answered"] is True and ring.message_id is None
        inquiries = rows(engine, Inquiry)
        contacts = {c.id: c.phone for c in rows(engine, Contact)}
        assert sorted(contacts[i.contact_id] for i in inquiries) == ["+37126543210", "+37129998877", "+37167123456"]
        for inquiry in inquiries:
            assert inquiry.channel == "phone" and inquiry.subject.startswith("Neatbildēts zvans")
            assert inquiry.due_at is not None and inquiry.received_at.date() == datetime(2026, 11, 24).date()
        busy = next(i for i in inquiries if contacts[i.contact_id] == "+37167123456")
        # Received at the call's start (10:41:27 Riga = 08:41:27 UTC), due a working day later.
        assert busy.received_at.astimezone(UTC).replace(tzinfo=None) == datetime(2026, 11, 24, 8, 41, 27)
        assert busy.due_at - busy.received_at >= timedelta(hours=8)
        notifications = [o for o in rows(engine, Outbox) if o.kind == "staff_notification"]
        assert len(notifications) == 3
    finally:
        engine.dispose()

    # Again: nothing new.
    again = import_calls(tmp_path, database_url, MASTER, env=NO_WINDOW)
    assert again.returncode == 1
    assert "imported:   0 (missed 0, answered 0)" in again.stdout and "duplicates: 7" in again.stdout
    engine = create_engine(database_url)
    try:
        assert len(rows(engine, Receipt)) == 5 and len(rows(engine, Inquiry)) == 3
    finally:
        engine.dispose()

    # The running service sends the queued staff notifications.
    settings = make_settings(outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"})
    with service_factory(settings):
        wait_until(
            lambda: len([m for m in relay.staff() if "Neatbildēts zvans" in m.get_body(("plain",)).get_content()]) >= 3,
            timeout=30,
            what="three staff mails",
        )


@pytest.mark.slow  # two real `ingest` processes
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_generic_csv_with_a_column_mapping(tmp_path: Path, database_url: str) -> None:
    export = tmp_path / "zvani.csv"
    export.write_text(
        "Zvana ID;Zvanītājs;Numurs;Sākums;Ilgums;Statuss\n"
        "z-1001;29123456;67000100;24.11.2026 09:10;0;Neatbildēts\n"
        "z-1002;26543210;67000100;24.11.2026 09:30;120;Atbildēts\n"
        "z-1003;105;67000100;24.11.2026 09:40;0;Neatbildēts\n"
        "z-1004;27770001;67000100;24.11.2026 25:61;0;Neatbildēts\n"
        "z-1005;27770002;67000100;24.11.2026 10:00;0;\n"
        "z-1001;29123456;67000100;24.11.2026 09:10;0;Neatbildēts\n",
        encoding="utf-8",
    )
    env = {
        "INGEST__CALLS__CSV_COLUMNS": json.dumps(
            {
                "call_id": "Zvana ID",
                "from": "Zvanītājs",
                "to": "Numurs",
                "start": "Sākums",
                "duration": "Ilgums",
                "status": "Statuss",
            }
        ),
        "INGEST__CALLS__CSV_DELIMITER": ";",
        "INGEST__CALLS__CSV_DATE_FORMAT": "%d.%m.%Y %H:%M",
        **NO_WINDOW,
    }
    run = import_calls(tmp_path, database_url, export, "--format", "csv", env=env)
    assert run.returncode == 1, run.stderr
    assert "6 rows" in run.stdout
    assert "imported:   2 (missed 1, answered 1)" in run.stdout
    assert "duplicates: 1" in run.stdout and "internal:   1" in run.stdout
    assert "line 5: bad start date '24.11.2026 25:61'" in run.stdout
    assert "line 6: empty status" in run.stdout
    assert "call-back inquiries opened: 1" in run.stdout
    engine = create_engine(database_url)
    try:
        assert {r.natural_id for r in rows(engine, Receipt)} == {"call:csv:z-1001", "call:csv:z-1002"}
        (inquiry,) = rows(engine, Inquiry)
        assert inquiry.subject == "Neatbildēts zvans no +37129123456"
    finally:
        engine.dispose()
    # A mapped column missing from the header: the file is refused as a whole (exit code 2).
    env["INGEST__CALLS__CSV_COLUMNS"] = json.dumps({"from": "Zvanītājs", "start": "Sākums", "status": "Nav"})
    refused = import_calls(tmp_path, database_url, export, "--format", "csv", env=env)
    assert refused.returncode == 2 and "'Nav'" in refused.stderr


@pytest.mark.parametrize(("disposition", "said"), [("NO ANSWER", "neviens neatbildēja"), ("busy", "aizņemts"),
                                                   ("voicemail", "balss pasts"), ("ODD-CODE", "ODD-CODE")])  # fmt: skip
def test_how_a_missed_call_ended_is_said_in_latvian(disposition: str, said: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from channels.calls import CallChannel, call_document, encode

    document = call_document(source="asterisk", call_id="c1", from_raw="+37120000001", to_raw="", answered=False,
                             start=datetime(2026, 3, 11, 9, 0, tzinfo=ZoneInfo("Europe/Riga")), duration=0,
                             disposition=disposition)  # fmt: skip
    message = CallChannel().normalise(encode(document), {})
    assert message.text.endswith(f"(zvana iznākums: {said})")
