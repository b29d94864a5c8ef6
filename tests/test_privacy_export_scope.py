"""A subject-access export holds only the person's own data (issue 15, item 2).

Another person's out-of-office that mentions the client's address is stored as a receipt that
never became a message; the client's export lists it by id and why, and holds none of it. The
client's own out-of-office, also never a message, is theirs and is exported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.cli import main
from storage.models import Receipt
from storage.staff_models import AuditLog
from tests.pipeline_office import PipelineOffice, pipeline_office
from tests.support import ROOT

CLIENT = "zigfrids.kengeris@example.lv"
CLIENT_TEXT = "Pie mājas Ūdens ielā 42 netiek izvesti atkritumi."
CLIENT_AWAY = "Zigfrīds ir prom līdz pirmdienai."
OTHER = "marta.berzina@client.example"
# Marta's private details, and the client's address she happens to mention.
OTHER_PRIVATE = "Esmu slimnīcā pēc operācijas līdz 3. decembrim, mans personas kods 010180-12345."
OTHER_AWAY = f"{OTHER_PRIVATE} Steidzamos jautājumos rakstiet kaimiņam {CLIENT}."


def mail(sender: tuple[str, str], subject: str, text: str, message_id: str, *, auto: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = formataddr(sender)
    msg["To"] = "klienti@example.lv"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{message_id}>"
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(text)
    return msg.as_bytes()


@pytest.fixture
def world(make_settings: Any, monkeypatch: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings()) as office:
        # The command reads the example configuration on this test's database (as in production).
        monkeypatch.setenv("INGEST__DATABASE__URL", office.settings.database_url())
        monkeypatch.setenv("INGEST__SERVICE__DATA_DIR", str(office.settings.service.data_dir))
        yield office


def store(world: PipelineOffice, raw: bytes, envelope_from: str) -> int:
    stored = world.store.store_sync(
        world.pipeline.channels["email"], source="smtp", raw=raw, meta={"envelope_from": envelope_from}
    )
    return stored.id


def test_export_lists_but_never_holds_a_receipt_that_only_mentions_the_client(
    world: PipelineOffice, tmp_path: Path, capsys: Any
) -> None:
    store(world, mail(("Zigfrīds Ķeņģeris", CLIENT), "Atkritumi", CLIENT_TEXT, "zk-1@example.lv"), CLIENT)
    # Neither out-of-office refers to a message of ours: both stay receipts without a message.
    others = store(world, mail(("Marta Bērziņa", OTHER), "Prom", OTHER_AWAY, "ooo-m@client.example", auto=True), OTHER)
    own = store(world, mail(("Zigfrīds Ķeņģeris", CLIENT), "Prom", CLIENT_AWAY, "ooo-z@example.lv", auto=True), CLIENT)
    world.pipeline.process_due()
    with Session(world.engine) as session:
        receipts = {r.id: r for r in session.exec(select(Receipt)).all()}
    assert receipts[others].message_id is None and receipts[own].message_id is None
    assert all(r.status == "processed" for r in receipts.values())

    out = tmp_path / "export"
    config = str(ROOT / "config.example.toml")
    assert main(["gdpr", "export", CLIENT, "--out", str(out), "--config", config]) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith(f"to be judged by a person: {others}")
    data_text = (out / "data.json").read_text(encoding="utf-8")
    data = json.loads(data_text)
    everything = data_text.encode() + b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())

    # Marta's message is in no form: not her words, not her address, not its raw bytes.
    for needle in ("slimnīcā", "010180-12345", OTHER, "marta"):
        assert needle.encode() not in everything.lower(), needle
    assert data["receipts_to_review"] == [
        {"receipt_id": others, "channel": "email", "source": "smtp", "status": "processed",
         "received_at": receipts[others].received_at.isoformat(), "why": "mentions_only"}
    ]  # fmt: skip
    # The client's own: the inquiry with their message, and their out-of-office receipt.
    (inquiry,) = data["inquiries"]
    assert [m["text"].strip() for m in inquiry["messages"]] == [CLIENT_TEXT]
    assert sorted(r["id"] for r in data["receipts"]) == sorted([inquiry["messages"][0]["receipt_id"], own])
    assert (out / f"receipts/{own}.eml").read_bytes() == receipts[own].raw
    with Session(world.engine) as session:
        (audit,) = session.exec(select(AuditLog).where(AuditLog.action == "gdpr.export")).all()
    assert audit.detail["receipts"] == 2 and audit.detail["receipts_to_review"] == 1
