"""Reassignment with the client's redirect notice (clause 10.3), and ``ingest explain``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from ingest.assembly import deadline_policy, notices_from_settings
from ingest.config import Settings
from ingest.inquiries.errors import InquiryError
from ingest.inquiries.explain import explain
from ingest.inquiries.reassign import reassign
from ingest.routing import calendar_from_settings
from storage.actors import Actor
from storage.db import SessionFactory, transaction
from storage.models import Employee, Event, Inquiry, Outbox
from tests.pipeline_office import Clock, pipeline_office
from tests.support import write_config

MAIL = (
    "From: Ольга <olga@client.example>\r\nTo: klienti@example.lv\r\nSubject: Мусор\r\n"
    "Message-ID: <m1@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Здравствуйте, уже неделю не вывозят мусор от дома на улице Бривибас 12.\r\n"
).encode()


@dataclass(frozen=True)
class Stored:
    """The example office after Olga's mail became an inquiry (as it was when opened)."""

    settings: Settings
    engine: Any
    sessions: SessionFactory
    clock: Clock
    inquiry: Inquiry


@pytest.fixture
def stored(make_settings: Any) -> Iterator[Stored]:
    with pipeline_office(make_settings()) as o:
        o.store.store_sync(o.pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
        o.pipeline.process_due()
        with Session(o.engine) as session:
            inquiry = session.exec(select(Inquiry)).one()
        yield Stored(o.settings, o.engine, o.sessions, o.clock, inquiry)


def test_reassign_tells_client_the_new_specialist_and_keeps_the_deadline(stored: Stored) -> None:
    assert stored.inquiry.language == "ru"
    with transaction(stored.sessions) as session:
        current = session.get(Inquiry, stored.inquiry.id)
        reassign(
            session,
            inquiry=current,
            to_employee="nami",
            actor=Actor.employee("ilze.berzina"),
            reason="jautājums par nama pagalmu",
            notices=notices_from_settings(stored.settings),
            calendar=calendar_from_settings(stored.settings),
            policy=deadline_policy(stored.settings),
            now=stored.clock(),
        )
    with Session(stored.engine) as session:
        after = session.get(Inquiry, stored.inquiry.id)
        nami = session.exec(select(Employee).where(Employee.key == "nami")).one()
        redirect = session.exec(select(Outbox).where(Outbox.kind == "client_redirect")).one()
        staff = session.exec(
            select(Outbox).where(Outbox.kind == "staff_notification", Outbox.recipient == nami.email)
        ).one()
        event = session.exec(select(Event).where(Event.type == "reassigned")).one()
    assert after.employee_id == nami.id
    assert after.due_at == stored.inquiry.due_at  # the deadline does not restart
    text = redirect.payload["text"]
    # The client wrote in Russian: the specialist's position, room and hours in Russian (issue 13).
    for detail in ("Dace Krūmiņa", "Управляющая домами", "кабинет 105", "+37167000140", "Пн.–Чт. 9:00–12:00"):
        assert detail in text, detail
    assert "Namu pārvaldniece" not in text and "kabinets" not in text
    assert "Срок ответа не меняется" in text  # in the client's language
    assert redirect.recipient == "olga@client.example"
    assert f"[{stored.inquiry.reference}]" in redirect.payload["subject"]
    assert staff.payload["subject"].startswith(f"[{stored.inquiry.reference}]")
    assert event.actor == "ilze.berzina" and event.data["from"] == "atkritumi-1" and event.data["to"] == "nami"

    with transaction(stored.sessions) as session, pytest.raises(InquiryError, match="already assigned"):
        reassign(
            session,
            inquiry=session.get(Inquiry, stored.inquiry.id),
            to_employee="nami",
            actor=Actor.employee("x"),
            reason="",
            notices=notices_from_settings(stored.settings),
            calendar=calendar_from_settings(stored.settings),
            policy=deadline_policy(stored.settings),
            now=stored.clock(),
        )


def test_explain_shows_rule_facts_and_due_date(stored: Stored) -> None:
    with Session(stored.engine) as session:
        lines = "\n".join(
            explain(session, reference=stored.inquiry.reference.lower(), tz=ZoneInfo("Europe/Riga")).lines
        )
    assert "rule topic-keyword chose atkritumi-1" in lines
    assert "keyword 'мусор'" in lines
    assert "language ru, kind" in lines
    assert "counted from 2026-11-25T11:00:00+02:00" in lines
    assert "-> 2026-11-26T17:00:00+02:00" in lines


@pytest.mark.slow  # real `ingest` processes
def test_explain_and_reassign_commands(stored: Stored, tmp_path: Path) -> None:
    config = write_config(tmp_path, stored.settings.database_url())
    run = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "explain", stored.inquiry.reference, "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "rule topic-keyword chose atkritumi-1" in run.stdout
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingest.cli",
            "reassign",
            stored.inquiry.reference,
            "atkritumi-2",
            "--reason",
            "atvaļinājums",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "Olga Petrova" in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "explain", "GK-1999-000001", "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "no inquiry" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow  # a real `ingest` process
def test_inspect_email_names_the_inquiry_a_reply_would_join(stored: Stored, tmp_path: Path) -> None:
    config = write_config(tmp_path, stored.settings.database_url())
    eml = tmp_path / "reply.eml"
    eml.write_bytes(
        b"From: olga@client.example\r\nTo: klienti@example.lv\r\nSubject: Re: Musor\r\n"
        b"In-Reply-To: <m1@client.example>\r\n\r\nEshche vopros.\r\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "inspect-email", str(eml), "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    import json

    assert json.loads(run.stdout)["threads_into"] == stored.inquiry.reference
