"""Erasure reaches everything (issue 15, item 3): digest rows, reply tokens, outgoing copies, the
SQLite file and its write-ahead log.

A client writes by e-mail (with an attachment) and WhatsApp, is acknowledged, appears in an
employee's morning digest, and is answered by a staff reply that quotes them; the outbox is sent
into the folder transport (``var/outgoing-mail``). After ``ingest gdpr erase`` every text, JSON and
binary column of every table (SQLite and PostgreSQL), the SQLite database file and its -wal file,
and every file under ``var/`` are searched for the client's values: nothing. A staff reply to the
old notification arriving afterwards (old token, old Message-ID, quoting the client) stores none
of it again.
"""

from __future__ import annotations

import email
import json
import os
import quopri
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, LargeBinary, MetaData, String, Text
from sqlalchemy import select as sa_select
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select

import storage.models  # noqa: F401 - every table registered on SQLModel.metadata
import storage.staff_models  # noqa: F401
import storage.twilio_models  # noqa: F401
from ingest.cli import main
from ingest.inquiries.scheduled import DeadlineKeeper
from ingest.outgoing.mail_transport import FolderTransport
from ingest.outgoing.twilio_transport import ChannelOutboxSender
from storage.db import checkpoint_wal
from storage.models import Inquiry, Outbox, Receipt
from tests.pipeline_office import PipelineOffice, pipeline_office
from tests.test_privacy import ANSWER_TEXT, EMAIL, NAME, PHONE, STREET, client_mail, needles, staff_reply, whatsapp_form
from tests.twilio_helpers import twilio_section

UNIQUE_WORD = "konteiners"  # only in the client's WhatsApp text
WHATSAPP = "Sveiki, Ūdens iela 42: konteiners nav iztukšots, lūdzu izvest atkritumus"


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    # The story's second e-mail is a second inquiry: without the threading window it does not join
    # the first (ingest/pipeline/joining.py).
    with pipeline_office(make_settings(twilio=twilio_section(), threading={"cross_channel_hours": 0})) as office:
        yield office


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("INGEST__DATABASE__URL", "")
    monkeypatch.setenv("INGEST__SERVICE__DATA_DIR", "var")


def _config(world: PipelineOffice) -> str:
    from tests.support import ROOT

    os.environ["INGEST__DATABASE__URL"] = world.settings.database_url()
    os.environ["INGEST__SERVICE__DATA_DIR"] = str(world.settings.service.data_dir)
    return str(ROOT / "config.example.toml")


# -- what is searched for, and where --------------------------------------------------------


def values() -> dict[str, bytes]:
    """The client's name, address, phone and a word of theirs, with the forms raw mail and the
    test_privacy search use."""
    found = {**needles(), "unique word": UNIQUE_WORD.encode()}
    for label, value in list(found.items()):
        text = value.decode("utf-8", "replace")
        # How the bytes look in a JSON column stored as text, and in a quoted-printable body.
        found[label + " json"] = json.dumps(text)[1:-1].encode()
        found[label + " qp"] = quopri.encodestring(value).strip()
    return {k: v for k, v in found.items() if len(v) >= 6}


def hits(data: bytes, where: str, wanted: dict[str, bytes]) -> list[str]:
    low = data.lower()
    return [f"{label} in {where}" for label, needle in wanted.items() if needle.lower() in low]


def table_hits(world: PipelineOffice, wanted: dict[str, bytes]) -> list[str]:
    """Every text, JSON and binary column of every table the models declare, and every column of
    any table the database has besides (reflected: none may hide outside the models)."""
    reflected = MetaData()
    reflected.reflect(world.engine)
    declared = set(SQLModel.metadata.tables)
    tables = [*SQLModel.metadata.sorted_tables, *(t for t in reflected.sorted_tables if t.name not in declared)]
    found: list[str] = []
    with world.engine.connect() as conn:
        for table in tables:
            searched = table.name not in declared
            columns = [c for c in table.columns if searched or isinstance(c.type, (String, Text, JSON, LargeBinary))]
            if not columns:
                continue
            for row in conn.execute(sa_select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    found += hits(_bytes(value), f"{table.name}.{column.name}", wanted)
    return sorted(set(found))


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value, ensure_ascii=False, default=str).encode()


def file_hits(folder: Path, wanted: dict[str, bytes]) -> list[str]:
    """Every file under ``folder``, as bytes and, for mail, decoded (headers and body)."""
    found: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += hits(data, str(path.relative_to(folder)), wanted)
        if path.suffix == ".eml":
            found += hits(_decoded(data), str(path.relative_to(folder)) + " (decoded)", wanted)
    return sorted(set(found))


def _decoded(data: bytes) -> bytes:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    parts = [f"{k}: {v}" for k, v in message.items()]
    body = message.get_body()
    if body is not None:
        parts.append(body.get_content())
    return "\n".join(parts).encode()


def database_files(world: PipelineOffice) -> list[Path]:
    database = make_url(world.settings.database_url()).database
    assert database
    return [Path(database), Path(database + "-wal")]


# -- the client's story ---------------------------------------------------------------------


def story(world: PipelineOffice) -> None:
    """E-mail with an attachment, WhatsApp (both acknowledged), a second e-mail, and a staff reply to the e-mail's
    notification quoting the client (an answer or, unproven, a note: either stores the quote)."""
    channels = world.pipeline.channels
    world.store.store_sync(channels["email"], source="smtp", raw=client_mail(), meta={"envelope_from": EMAIL})
    world.pipeline.process_due()
    world.clock.now += timedelta(minutes=30)
    world.store.store_sync(channels["whatsapp"], source="twilio", raw=whatsapp_form("SM" + "2" * 32, WHATSAPP), meta={})
    world.store.store_sync(channels["email"], source="smtp", raw=second_mail(), meta={"envelope_from": EMAIL})
    world.pipeline.process_due()
    world.clock.now += timedelta(hours=2)
    raw = staff_reply(the_notification(world), ANSWER_TEXT)
    world.store.store_sync(channels["email"], source="smtp", raw=raw, meta={})
    world.pipeline.process_due()
    with Session(world.engine) as session:
        assert {r.status for r in session.exec(select(Receipt)).all()} == {"processed"}
        assert len(session.exec(select(Inquiry)).all()) == 3


def second_mail() -> bytes:
    """A second inquiry by e-mail, still open on the digest's morning: listed there by its subject."""
    msg = EmailMessage()
    msg["From"] = formataddr((NAME, EMAIL))
    msg["To"] = "klienti@example.lv"
    msg["Subject"] = f"{STREET}: {UNIQUE_WORD} salauzts"
    msg["Message-ID"] = "<zk-2@mail.example.lv>"
    msg.set_content("Konteineram nolūzis vāks.")
    return msg.as_bytes()


def send_outbox(world: PipelineOffice) -> None:
    """What is queued goes out: e-mail into the folder transport; WhatsApp has no transport here."""
    sender = ChannelOutboxSender(sessions=world.sessions, transports={"email": FolderTransport(folder(world))},
                                 retry=world.settings.outbox, clock=world.clock)  # fmt: skip
    while sender.deliver_due():
        pass


def folder(world: PipelineOffice) -> Path:
    return world.settings.outgoing_folder()


def morning_digest(world: PipelineOffice) -> None:
    """The morning the last of the client's inquiries is due: the digest lists both (the e-mail one
    by its subject, the client's words), the earlier one as overdue if it is still open."""
    with Session(world.engine) as session:
        due = max(i.due_at for i in session.exec(select(Inquiry)).all() if i.due_at is not None)
    calendar = world.pipeline.router.calendar
    world.clock.now = datetime.combine(due.astimezone(calendar.tz).date(), time(8, 30), tzinfo=calendar.tz)
    keeper = DeadlineKeeper(sessions=world.sessions, notices=world.pipeline.notices, calendar=calendar,
                            clock=world.clock, fallback_employee="koordinatore", board_member="valde")  # fmt: skip
    keeper.sweep()


def the_notification(world: PipelineOffice) -> Outbox:
    with Session(world.engine) as session:
        inquiry = session.exec(select(Inquiry).where(Inquiry.channel == "email").order_by(Inquiry.id)).first()
        assert inquiry is not None
        return session.exec(
            select(Outbox).where(Outbox.inquiry_id == inquiry.id, Outbox.kind == "staff_notification")
        ).one()


def test_erasure_reaches_digests_tokens_outgoing_copies_and_the_files(world: PipelineOffice) -> None:
    story(world)
    morning_digest(world)
    send_outbox(world)
    notice = the_notification(world)
    wanted = values()
    core = {k: wanted[k] for k in ("name", "email", "phone", "unique word")}
    with Session(world.engine) as session:
        digests = session.exec(select(Outbox).where(Outbox.kind == "deadline_digest")).all()
        acks = session.exec(select(Outbox).where(Outbox.kind.startswith("client_"))).all()  # type: ignore[attr-defined]
    # The story happened: acknowledged on both channels, a digest naming the client's inquiry, copies on disk.
    assert {a.channel for a in acks} >= {"email", "whatsapp"}
    assert digests and all(d.inquiry_id is None for d in digests)
    assert any(hits(json.dumps(d.payload, ensure_ascii=False).encode(), "digest", wanted) for d in digests)
    assert {"name", "email", "phone", "unique word"} <= {h.split(" in ")[0] for h in table_hits(world, core)}
    assert file_hits(folder(world), wanted)

    assert main(["gdpr", "erase", EMAIL, "--yes", "--config", _config(world)]) == 0
    assert main(["gdpr", "erase", PHONE, "--yes", "--config", _config(world)]) == 0

    assert table_hits(world, wanted) == []
    assert file_hits(folder(world).parent, wanted) == []
    if world.settings.database_url().startswith("sqlite"):
        data_file, log_file = database_files(world)
        assert log_file.stat().st_size == 0  # truncated by the checkpoint after the erasure
        assert hits(data_file.read_bytes(), data_file.name, wanted) == []
    with Session(world.engine) as session:
        digest_text = "\n".join(d.payload["text"] for d in session.exec(select(Outbox).where(
            Outbox.kind == "deadline_digest")).all())  # fmt: skip
        references = [i.reference for i in session.exec(select(Inquiry).where(Inquiry.contact_id.in_((1, 3)))).all()]  # type: ignore[attr-defined]
    # The digest still lists the inquiry, by reference only.
    assert any(ref in digest_text for ref in references)

    late_staff_reply(world, notice, wanted)


def late_staff_reply(world: PipelineOffice, notice: Outbox, wanted: dict[str, bytes]) -> None:
    """The employee answers the old notification after the erasure, quoting the client: the old
    token and Message-ID find nothing, and the reply stores none of what it quotes."""
    raw = staff_reply(notice, "Atvainojiet, atbildu vēlreiz.")
    raw = raw.replace(b"<answer-1@example.lv>", b"<answer-late@example.lv>")
    assert hits(_decoded(raw), "the late reply", wanted)  # it quotes the client
    with Session(world.engine) as session:
        inquiries_before = len(session.exec(select(Inquiry)).all())
        outbox_before = len(session.exec(select(Outbox)).all())
    world.clock.now += timedelta(hours=1)
    stored = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=raw, meta={})
    world.pipeline.process_due()
    with Session(world.engine) as session:
        assert len(session.exec(select(Inquiry)).all()) == inquiries_before
        assert len(session.exec(select(Outbox)).all()) == outbox_before
        receipt = session.exec(select(Receipt).order_by(Receipt.id.desc())).first()  # type: ignore[attr-defined]
    assert receipt is not None and receipt.raw == b"" and receipt.status == "processed", (stored, receipt)
    assert table_hits(world, wanted) == []
    if world.settings.database_url().startswith("sqlite"):
        # The reply's bytes were in the log until its row was emptied in the same transaction;
        # after the rebuild and checkpoint an erasure does, none are left.
        assert checkpoint_wal(world.engine, vacuum=True) is True
        data_file, log_file = database_files(world)
        assert hits(data_file.read_bytes() + log_file.read_bytes(), data_file.name, wanted) == []
