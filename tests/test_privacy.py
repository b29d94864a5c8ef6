"""Personal data (policy clause 5.5): retention, GDPR export and erasure leave nothing of the client.

The data is built through the real pipeline (e-mail with an attachment, WhatsApp, a staff answer by
reply, a receipt that parks); after erasure or anonymisation every column of every table is
searched for the client's values, in the forms raw mail writes them too, while the statistics
computed before and after stay equal.
"""

from __future__ import annotations

import base64
import json
import quopri
import urllib.parse
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from ingest.cli import main
from ingest.config import RetentionSettings
from ingest.privacy.gdpr import ContactError, build_export, erase_contact, resolve_contact, write_export
from ingest.privacy.retention import run_retention
from storage.db import transaction
from storage.models import Attachment, Contact, Event, Inquiry, Message, Outbox, Receipt
from storage.staff_models import AuditLog
from tests.pipeline_office import T0, PipelineOffice, pipeline_office
from tests.staff_proof_helpers import STAFF_REPLIES, vouch
from tests.support import ROOT
from tests.twilio_helpers import twilio_section

NAME = "Zigfrīds Ķeņģeris"
EMAIL = "zigfrids.kengeris@example.lv"
PHONE = "+37129876543"
STREET = "Ūdens iela 42"
ATTACHMENT = b"\x89PNG-UNIKALS-PIELIKUMS-7f3a9c2e51-\x00\x01\x02-ZK"
MAIL_TEXT = f"Labdien! Pie mājas {STREET} jau divas nedēļas netiek izvesti atkritumi. Mans tālrunis {PHONE}."
WHATSAPP_TEXT = f"Sveiki, {STREET}: konteiners nav iztukšots, lūdzu izvest atkritumus"
ANSWER_TEXT = "Labdien! Atkritumi tiks izvesti rīt līdz plkst. 12."

OTHER_EMAIL = "anna.liepa@client.example"
OTHER_TEXT = "Rēķinā par siltumu ir kļūda, lūdzu pārbaudīt."


def client_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = formataddr((NAME, EMAIL))
    msg["To"] = "klienti@example.lv"
    msg["Subject"] = f"{STREET} — neizvesti atkritumi"
    msg["Message-ID"] = "<zk-1@mail.example.lv>"
    msg.set_content(MAIL_TEXT)
    msg.add_attachment(ATTACHMENT, maintype="image", subtype="png", filename="Kengeris_foto.png")
    return msg.as_bytes()


def other_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = formataddr(("Anna Liepa", OTHER_EMAIL))
    msg["To"] = "klienti@example.lv"
    msg["Subject"] = "Rēķins par siltumu"
    msg["Message-ID"] = "<anna-1@client.example>"
    msg.set_content(OTHER_TEXT)
    return msg.as_bytes()


def whatsapp_form(sid: str, body: str) -> bytes:
    return urllib.parse.urlencode(
        {"MessageSid": sid, "From": f"whatsapp:{PHONE}", "To": "whatsapp:+37167000000", "Body": body,
         "ProfileName": NAME, "NumMedia": "0", "WaId": PHONE.lstrip("+")}
    ).encode()  # fmt: skip


def staff_reply(notice: Outbox, text: str) -> bytes:
    """The employee answers the staff notification from their mail program, quoting it (vouched for
    by the office's mail server)."""
    payload = notice.payload
    msg = EmailMessage()
    msg["From"] = formataddr(tuple(payload["to"]))  # type: ignore[arg-type]
    msg["To"] = payload["headers"]["Reply-To"]
    msg["Subject"] = "Re: " + payload["subject"]
    msg["In-Reply-To"] = f"<{payload['message_id']}>"
    msg["Message-ID"] = "<answer-1@example.lv>"
    quoted = "\n".join("> " + line for line in payload["text"].splitlines())
    msg.set_content(f"{text}\n\nKlientu apkalpošana rakstīja:\n{quoted}\n")
    return vouch(msg.as_bytes())


@dataclass
class NoSuchChannel:
    """Stores a receipt on a channel the pipeline has no adapter for: it parks, like a broken one."""

    name: str = "fax"

    def natural_id(self, raw: bytes, meta: Any) -> str:
        return "fax:1"

    def normalise(self, raw: bytes, meta: Any) -> Any:  # pragma: no cover - never reached
        raise NotImplementedError


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings(twilio=twilio_section(), staff_replies=STAFF_REPLIES)) as office:
        yield office


def populate(world: PipelineOffice) -> None:
    """Two clients: Zigfrīds (e-mail with attachment, answered; WhatsApp, open; a parked receipt) and Anna."""
    world.store.store_sync(
        world.pipeline.channels["email"], source="smtp", raw=client_mail(), meta={"envelope_from": EMAIL}
    )
    world.store.store_sync(
        world.pipeline.channels["email"], source="smtp", raw=other_mail(), meta={"envelope_from": OTHER_EMAIL}
    )
    world.pipeline.process_due()
    world.clock.now += timedelta(minutes=30)
    world.store.store_sync(
        world.pipeline.channels["whatsapp"], source="twilio", raw=whatsapp_form("SM" + "1" * 32, WHATSAPP_TEXT), meta={}
    )
    # A receipt that never becomes a message: it parks, carrying the client's address.
    world.store.store_sync(
        NoSuchChannel(), source="fax", raw=f"From: {EMAIL}\n{MAIL_TEXT}".encode(), meta={"from": EMAIL}
    )
    world.pipeline.process_due()
    with Session(world.engine) as session:
        inquiry = session.exec(select(Inquiry).where(Inquiry.channel == "email").order_by(Inquiry.id)).first()
        notice = session.exec(
            select(Outbox).where(Outbox.inquiry_id == inquiry.id, Outbox.kind == "staff_notification")
        ).one()
    world.clock.now += timedelta(hours=2)
    world.store.store_sync(
        world.pipeline.channels["email"], source="smtp", raw=staff_reply(notice, ANSWER_TEXT), meta={}
    )
    world.pipeline.process_due()
    with Session(world.engine) as session:
        statuses = Counter(r.status for r in session.exec(select(Receipt)).all())
        inquiries = session.exec(select(Inquiry)).all()
    assert statuses == {"processed": 4, "parked": 1}, statuses
    assert sorted(i.status for i in inquiries) == ["answered", "open", "open"]


# -- searching the whole database ------------------------------------------------------------


def needles() -> dict[str, bytes]:
    """The client's values, as text and as raw mail and webhooks encode them."""
    found: dict[str, bytes] = {}
    for label, value in {
        "name": NAME, "first name": "Zigfrīds", "surname": "Ķeņģeris", "ascii surname": "kengeris",
        "email": EMAIL, "phone": PHONE, "phone digits": PHONE[4:], "street": STREET, "street lower": STREET.lower(),
        "mail text": "jau divas nedēļas", "whatsapp text": "konteiners nav iztukšots", "file name": "Kengeris_foto",
    }.items():  # fmt: skip
        found[label] = value.encode()
    found["attachment"] = ATTACHMENT
    found["attachment base64"] = base64.b64encode(ATTACHMENT)[:40]
    found["name rfc2047 b"] = base64.b64encode(NAME.encode())[:16]
    found["street qp"] = quopri.encodestring(STREET.encode()).strip()
    found["street urlencoded"] = urllib.parse.quote_plus(STREET).encode()
    found["name urlencoded"] = urllib.parse.quote_plus(NAME).encode()
    found["phone urlencoded"] = urllib.parse.quote_plus(PHONE).encode()
    return found


def _as_bytes(value: Any) -> list[bytes]:
    if value is None or isinstance(value, (bool, int, float, datetime)):
        return []
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [bytes(value)]
    if isinstance(value, (dict, list)):
        return [json.dumps(value, ensure_ascii=False).encode(), json.dumps(value).encode()]
    return [str(value).encode("utf-8", "surrogatepass")]


def database_dump(engine: Engine) -> list[tuple[str, str, bytes]]:
    """Every text, JSON and binary value of every table, whatever tables exist (reflected)."""
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa_select(table)).mappings():
                for column, value in row.items():
                    for data in _as_bytes(value):
                        out.append((table.name, column, data))
    return out


def leftovers(engine: Engine, values: dict[str, bytes]) -> list[str]:
    found = []
    for table, column, data in database_dump(engine):
        low = data.lower()
        for label, needle in values.items():
            if needle in data or needle.lower() in low:
                found.append(f"{label} in {table}.{column}")
    return sorted(set(found))


@dataclass(frozen=True)
class Figures:
    by_kind: dict[str, int]
    by_topic: dict[str, int]
    by_channel: dict[str, int]
    by_employee: dict[int, int]
    on_time: tuple[int, int]
    dates: list[tuple[str, datetime, datetime | None, datetime | None]]
    messages: dict[tuple[int, str], int]


def figures(engine: Engine) -> Figures:
    """What the reports count: by kind, topic, channel and employee, on-time answers, dates."""
    with Session(engine) as session:
        inquiries = session.exec(select(Inquiry).order_by(Inquiry.id)).all()
        answered = session.exec(select(Event).where(Event.type == "answered")).all()
        messages = session.exec(select(Message)).all()
    return Figures(
        by_kind=dict(Counter(i.kind for i in inquiries)),
        by_topic=dict(Counter(i.topic or "" for i in inquiries)),
        by_channel=dict(Counter(i.channel for i in inquiries)),
        by_employee=dict(Counter(i.employee_id or 0 for i in inquiries)),
        on_time=(sum(1 for e in answered if e.data.get("on_time")), len(answered)),
        dates=[(i.reference, i.received_at, i.answered_at, i.due_at) for i in inquiries],
        messages=dict(Counter((m.inquiry_id, m.direction) for m in messages)),
    )


# -- erasure -------------------------------------------------------------------------------


def test_erasure_leaves_nothing_of_the_client_and_the_figures_unchanged(world: PipelineOffice) -> None:
    populate(world)
    values = needles()
    before_search = leftovers(world.engine, values)
    # The search finds the values where they are: in texts, names, receipts (raw and encoded), files.
    for expected in ("name in contact.name", "email in contact.email", "phone in contact.phone",
                     "attachment in attachment.data", "street in message.text", "name rfc2047 b in receipt.raw",
                     "street urlencoded in receipt.raw", "street in outbox.payload",
                     "email in receipt.meta"):  # fmt: skip
        assert expected in before_search, (expected, before_search)
    before = figures(world.engine)
    with Session(world.engine) as session:
        anna_before = session.exec(select(Message).where(Message.sender == OTHER_EMAIL)).one().text

    # The client asks by e-mail and names their WhatsApp number too: two contacts, one person.
    assert main(["gdpr", "erase", EMAIL, "--yes", "--config", _config(world)]) == 0
    assert main(["gdpr", "erase", "29876543", "--yes", "--config", _config(world)]) == 0

    assert leftovers(world.engine, values) == []
    assert figures(world.engine) == before
    with Session(world.engine) as session:
        assert session.exec(select(Message).where(Message.sender == OTHER_EMAIL)).one().text == anna_before
        assert session.exec(select(Contact).where(Contact.email == OTHER_EMAIL)).one().name == "Anna Liepa"
        erased = session.exec(select(AuditLog).where(AuditLog.action == "gdpr.erase")).all()
        attachment = session.exec(select(Attachment)).one()
        parked = session.exec(select(Receipt).where(Receipt.channel == "fax")).one()
        erased_out = session.exec(select(Outbox).join(Inquiry).where(Inquiry.contact_id.in_((1, 3)))).all()  # type: ignore[attr-defined]
    assert len(erased) == 2 and {a.detail["contact_id"] for a in erased} == {1, 3}
    assert all(set(a.detail) <= {"contact_id", "inquiries", "messages", "attachments", "receipts", "outbox", "events",
                                 "media", "contacts"} for a in erased)  # fmt: skip
    assert attachment.size == 0 and attachment.data is None and "removed" in (attachment.omitted_reason or "")
    assert parked.raw == b"" and parked.status == "processed" and parked.next_attempt_at is None
    # Nothing was sent yet (no sender runs here): nothing is left to send, nor listed as failed.
    assert erased_out and {o.status for o in erased_out} == {"withdrawn"}


def test_erasure_of_an_unknown_or_ambiguous_contact_fails_cleanly(world: PipelineOffice, capsys: Any) -> None:
    populate(world)
    with transaction(world.sessions) as session:
        session.add(Contact(name="Otrs", phone="+37120000001"))
        session.add(Contact(name="Trešais", phone="+37120000001"))
    snapshot = database_dump(world.engine)
    assert main(["gdpr", "erase", "nobody@example.lv", "--yes", "--config", _config(world)]) == 1
    assert "no contact matches" in capsys.readouterr().err
    assert main(["gdpr", "erase", "+371 2000 0001", "--yes", "--config", _config(world)]) == 1
    err = capsys.readouterr().err
    assert "2 contacts match" in err and "name one by its id" in err
    assert main(["gdpr", "erase", "99999", "--yes", "--config", _config(world)]) == 1
    assert database_dump(world.engine) == snapshot
    with Session(world.engine) as session, pytest.raises(ContactError):
        resolve_contact(session, "")


def test_export_holds_every_inquiry_the_attachment_and_the_raw_receipts(world: PipelineOffice, tmp_path: Path) -> None:
    populate(world)
    out = tmp_path / "export"
    assert main(["gdpr", "export", EMAIL, "--out", str(out), "--config", _config(world)]) == 0
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    assert data["contact"]["email"] == EMAIL and data["contact"]["name"] == NAME
    (inquiry,) = data["inquiries"]
    texts = [m["text"] for m in inquiry["messages"]]
    # The answer is kept as the client received it: the employee's text, then the signature (policy 8).
    assert any(STREET in t for t in texts) and any(t.startswith(ANSWER_TEXT + "\n\nAr cieņu,") for t in texts)
    (attachment,) = [a for m in inquiry["messages"] for a in m["attachments"]]
    assert (out / attachment["file"]).read_bytes() == ATTACHMENT
    assert any(ANSWER_TEXT in o["payload"]["text"] for o in inquiry["sent_to_client"])
    assert all(o["kind"].startswith("client_") for o in inquiry["sent_to_client"])
    raws = {r["channel"]: base64.b64decode(r["raw_base64"]) for r in data["receipts"]}
    assert raws["email"] and "fax" not in raws
    # The parked receipt no channel can read may be anyone's: listed for a person, not exported.
    assert [(r["channel"], r["why"]) for r in data["receipts_to_review"]] == [("fax", "sender_unknown")]
    assert "token" not in inquiry  # the reply token is the office's, not the client's

    # By phone: the WhatsApp contact, as a zip.
    archive = tmp_path / "wa.zip"
    assert main(["gdpr", "export", PHONE, "--out", str(archive), "--config", _config(world)]) == 0
    with zipfile.ZipFile(archive) as z:
        wa = json.loads(z.read("data.json"))
    assert wa["contact"]["phone"] == PHONE and len(wa["inquiries"]) == 1
    assert wa["inquiries"][0]["messages"][0]["text"] == WHATSAPP_TEXT
    with Session(world.engine) as session:
        exports = session.exec(select(AuditLog).where(AuditLog.action == "gdpr.export")).all()
    assert [e.detail["contact_id"] for e in exports] == [1, 3]
    # An existing target is never overwritten.
    assert main(["gdpr", "export", PHONE, "--out", str(archive), "--config", _config(world)]) == 1


def test_export_and_erase_in_process(world: PipelineOffice, tmp_path: Path) -> None:
    """The library calls the commands use, on one session: erasing twice is harmless."""
    populate(world)
    with transaction(world.sessions) as session:
        contact = resolve_contact(session, "1")
        export = build_export(session, contact)
        write_export(export, tmp_path / "x")
        first = erase_contact(session, contact, now=T0, actor="test")
    with transaction(world.sessions) as session:
        contact = resolve_contact(session, "1")
        again = erase_contact(session, contact, now=T0, actor="test")
    assert first.inquiries == again.inquiries == 1 and first.attachments == 1
    assert export.counts()["files"] >= 2


# -- retention ----------------------------------------------------------------------------


def test_retention_anonymises_only_old_closed_inquiries(world: PipelineOffice) -> None:
    populate(world)
    policy = RetentionSettings(anonymise_closed_after_months=36, keep_raw_receipts_days=90)
    before = figures(world.engine)

    young = run_retention(world.sessions, policy, now=T0 + timedelta(days=30))
    assert young.anonymised.inquiries == 0 and young.raw_receipts_emptied == 0

    # Three years later: the answered e-mail inquiry goes; the open ones (WhatsApp, Anna's) stay.
    later = T0 + timedelta(days=3 * 366)
    report = run_retention(world.sessions, policy, now=later)
    assert report.anonymised.inquiries == 1 and report.anonymised.attachments == 1
    assert figures(world.engine) == before
    with Session(world.engine) as session:
        email_inquiry = session.exec(select(Inquiry).where(Inquiry.channel == "email").order_by(Inquiry.id)).first()
        anonymised = session.exec(select(Event).where(Event.type == "anonymised")).all()
        messages = session.exec(select(Message).where(Message.inquiry_id == email_inquiry.id)).all()
        whatsapp = session.exec(select(Message).where(Message.channel == "whatsapp")).one()
        contacts = {c.id: c for c in session.exec(select(Contact)).all()}
        receipts = session.exec(select(Receipt)).all()
        answered = session.exec(select(Event).where(Event.type == "answered")).one()
    assert [e.inquiry_id for e in anonymised] == [email_inquiry.id] and email_inquiry.subject is None
    assert all(m.text == "" and m.subject is None and m.sender == "anonymised" for m in messages)
    assert whatsapp.text == WHATSAPP_TEXT  # open: untouched
    assert contacts[1].email is None and contacts[1].name is None  # no other inquiry of theirs
    assert contacts[3].phone == PHONE and contacts[2].email == OTHER_EMAIL
    assert answered.data["on_time"] is True and answered.data["channel"] == "email"
    # Raw receipts older than 90 days are emptied, except the parked one (it waits for a person).
    assert {r.channel: (r.raw == b"") for r in receipts if r.status == "processed"} == {"email": True, "whatsapp": True}
    assert [r.raw != b"" for r in receipts if r.status == "parked"] == [True]

    # What only the anonymised inquiry held is nowhere (the open WhatsApp inquiry and the parked
    # receipt still name the client: they are not due).
    only_there = {
        k: v for k, v in needles().items() if k in ("attachment", "attachment base64", "file name", "name rfc2047 b")
    }
    assert leftovers(world.engine, {**only_there, "answer": ANSWER_TEXT.encode(), "email": EMAIL.encode()}) == [
        "email in receipt.meta",
        "email in receipt.raw",  # the parked receipt: kept for a person to look at
    ]
    # Nothing more to do the next day.
    again = run_retention(world.sessions, policy, now=later + timedelta(days=1))
    assert again.anonymised.inquiries == 0 and again.raw_receipts_emptied == 0
    # The anonymised contact's values are gone from the e-mail inquiry's rows, everywhere.
    with Session(world.engine) as session:
        rows = [*session.exec(select(Outbox).where(Outbox.inquiry_id == email_inquiry.id)).all()]
    assert all(r.payload == {} for r in rows)
    assert not any(r.recipient == EMAIL for r in rows)


def test_retention_zero_means_never(world: PipelineOffice) -> None:
    populate(world)
    snapshot = database_dump(world.engine)
    report = run_retention(world.sessions, RetentionSettings(anonymise_closed_after_months=0, keep_raw_receipts_days=0),
                           now=T0 + timedelta(days=10 * 365))  # fmt: skip
    assert report.anonymised.inquiries == 0 and database_dump(world.engine) == snapshot


def test_retention_dry_run_changes_nothing(world: PipelineOffice, capsys: Any, monkeypatch: Any) -> None:
    populate(world)
    snapshot = database_dump(world.engine)
    # The command runs on the real clock: everything stored at T0 (2026) is old enough in 2030.
    import ingest.privacy.retention as retention

    real = retention.run_retention

    def later(*args: Any, **kwargs: Any) -> Any:
        kwargs["now"] = T0 + timedelta(days=4 * 366)
        return real(*args, **kwargs)

    monkeypatch.setattr(retention, "run_retention", later)
    assert main(["retention", "run", "--dry-run", "--config", _config(world)]) == 0
    printed = capsys.readouterr().out
    assert (
        "inquiries anonymised: 1" in printed
        and "raw receipts emptied: 4" in printed
        and "nothing was changed" in printed
    )
    assert database_dump(world.engine) == snapshot
    assert main(["retention", "run", "--config", _config(world)]) == 0
    assert database_dump(world.engine) != snapshot


def test_the_service_runs_retention_daily_in_the_scheduler_role_only(make_settings: Any) -> None:
    import asyncio

    from ingest.service import Service

    async def jobs(service: Service) -> list[str]:
        await service.start()
        try:
            return [job.id for job in service._scheduler.get_jobs()]  # type: ignore[union-attr]
        finally:
            await service.stop()

    for roles, expected in ((["web", "worker", "scheduler"], True), (["web", "worker"], False)):
        service = Service(make_settings(cluster={"roles": roles}))
        try:
            assert ("retention" in asyncio.run(jobs(service))) is expected
        finally:
            service.engine.dispose()


# -- helpers ------------------------------------------------------------------------------


def _config(world: PipelineOffice) -> str:
    """The example configuration on this test's database, through the environment (as in production)."""
    import os

    settings = world.settings
    os.environ["INGEST__DATABASE__URL"] = settings.database_url()
    os.environ["INGEST__SERVICE__DATA_DIR"] = str(settings.service.data_dir)
    return str(ROOT / "config.example.toml")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: Any) -> None:
    # Registered with monkeypatch so the variables _config sets are removed after each test.
    monkeypatch.setenv("INGEST__DATABASE__URL", "")
    monkeypatch.setenv("INGEST__SERVICE__DATA_DIR", "var")
