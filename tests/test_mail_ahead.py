"""Outgoing e-mail rendered ahead in the preparing pool (ingest/outgoing/mail_ahead.py): the same
bytes and envelope as the message itself gives, every row sent when the pool fails, and an
unusable address recorded as it is without the pool."""

from __future__ import annotations

import logging
import os
import signal
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from bench.imap_backlog import build_mailbox
from channels.email import EmailChannel
from ingest.assembly import preparer_from_settings
from ingest.config import RetrySettings
from ingest.intake.receipts import IncomingReceipt
from ingest.outgoing import mail_ahead
from ingest.outgoing.mail_bytes import message_bytes
from ingest.outgoing.mail_transport import FolderTransport, SmtpRelay, build_email
from ingest.outgoing.outbox import OutboxSender
from ingest.outgoing.rendered_mail import render_mail
from ingest.pipeline.prepare import PreparingPool
from storage.db import transaction
from storage.models import Outbox, OutboxStatus
from tests.pipeline_office import PipelineOffice, pipeline_office
from tests.support import Relay, wait_until

BASE = {
    "from": ["Klientu apkalpošana", "klienti@example.lv"],
    "to": ["Jānis Kalniņš", "janis.kalnins@example.lv"],
    "subject": "[GK-2026-000001] Pieprasījums: Neizvesti atkritumi, atbildēt līdz 26.11.2026",
    "text": "Labdien!\n\nKlients raksta: «Konteiners nav iztukšots jau nedēļu.»\n",
    "message_id": "f548d3a72b868b2bd25cb747@example.lv",
    "date": "Wed, 25 Nov 2026 11:00:00 +0200",
}
PAYLOADS = {
    "latvian staff notice": {**BASE, "headers": {"Reply-To": "klienti+fb5d46d6@example.lv"}},
    "russian ack with a long In-Reply-To": {
        **BASE,
        "from": ["Обслуживание клиентов", "klienti@example.lv"],
        "to": ["Клиент", "client@client.example"],
        "subject": "Ваша жалоба получена [GK-2026-000002]",
        "in_reply_to": "179606408168.8544.673422625721385392.m0.731fec93@client0.example",
        "headers": {"Auto-Submitted": "auto-replied", "X-Inquiry-Reference": "GK-2026-000002"},
    },
    "a copy to a second address": {**BASE, "headers": {"Cc": "Anna <anna@example.lv>"}},
    "ascii only": {**BASE, "from": ["Office", "klienti@example.lv"], "to": ["", "a@b.example"], "subject": "Hi"},
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_the_relay_gets_the_same_bytes_and_envelope_rendered_or_not(relay: Relay, name: str) -> None:
    payload = PAYLOADS[name]
    transport = SmtpRelay(host="127.0.0.1", port=relay.port, timeout=10)
    transport.send(build_email(payload), name="as-message")
    rendered = render_mail(payload)
    assert rendered is not None
    transport.send_rendered(rendered, name="rendered")
    assert len(relay.messages) == 2
    assert relay.messages[0] == relay.messages[1]
    assert relay.envelopes[0] == relay.envelopes[1]
    assert rendered.data.replace(b"\r\n", b"\n") == relay.messages[1].replace(b"\r\n", b"\n")


def test_what_the_rendered_bytes_cannot_carry_goes_as_the_message() -> None:
    # A Bcc is removed from what the relay gets, and a UTF-8 domain needs SMTPUTF8: smtplib's
    # send_message does both from the message, so the outbox hands it the message.
    assert render_mail({**BASE, "headers": {"Bcc": "valde@example.lv"}}) is None
    assert render_mail({**BASE, "to": ["Jānis", "janis@ēka.example"]}) is None
    assert render_mail(BASE) is not None


def start(office: PipelineOffice, count: int) -> PreparingPool:
    """``count`` client mails through the pipeline (their notices queued) and a started pool."""
    channel = EmailChannel()
    messages = build_mailbox(count)
    office.store.store_many_sync([IncomingReceipt(channel, "smtp", raw, {}) for raw in messages])
    while office.pipeline.process_due():
        pass
    pool = PreparingPool(partial(preparer_from_settings, office.settings), 1)
    pool.warm()
    wait_until(pool.started, timeout=60)
    return pool


def sender(office: PipelineOffice, folder: Path) -> OutboxSender:
    # Due now on the office's clock: rows are claimed in batches of 100, sends recorded as they go.
    return OutboxSender(sessions=office.sessions, transports={"email": FolderTransport(folder)},
                        retry=RetrySettings(), clock=office.clock)  # fmt: skip


def outbox(office: PipelineOffice) -> list[Outbox]:
    with Session(office.engine) as session:
        return list(session.exec(select(Outbox).order_by(col(Outbox.id))).all())


def test_the_pool_renders_every_notice_as_the_outbox_would(
    make_settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    with pipeline_office(make_settings()) as office:
        pool = start(office, 60)
        try:
            out = sender(office, tmp_path / "out")
            out.render_in(pool)

            def not_here(payload: Any) -> None:
                raise AssertionError("the pool rendered this already")

            # The pool's processes have their own render_mail; this process's is never called.
            monkeypatch.setattr(mail_ahead, "render_mail", not_here)
            while out.deliver_due():
                pass
        finally:
            pool.close()
        rows = outbox(office)
    assert len(rows) > 100  # a notice and most an acknowledgement: more than one claimed batch
    for row in rows:
        assert row.status == OutboxStatus.SENT.value, row.last_error
        written = (tmp_path / "out" / f"{row.id:08d}-{row.kind}.eml").read_bytes()
        assert written == message_bytes(build_email(row.payload))


def test_a_killed_pool_costs_one_warning_and_no_mail(make_settings: Any, tmp_path: Path, caplog: Any) -> None:
    with pipeline_office(make_settings()) as office:
        pool = start(office, 30)
        try:
            for pid in list(pool._executor._processes):  # type: ignore[union-attr]
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            out = sender(office, tmp_path / "out")
            out.render_in(pool)
            with caplog.at_level(logging.WARNING, logger="ingest.outgoing.mail_ahead"):
                while out.deliver_due():
                    pass
        finally:
            pool.close()
        rows = outbox(office)
    assert [r for r in rows if r.status != OutboxStatus.SENT.value] == []
    assert len(list((tmp_path / "out").glob("*.eml"))) == len(rows) > 30
    warnings = [r for r in caplog.records if "did not render outgoing mail" in r.getMessage()]
    assert len(warnings) == 1, caplog.text


@pytest.mark.parametrize("in_pool", [True, False], ids=["pool", "here"])
def test_an_unusable_address_is_recorded_the_same_rendered_anywhere(
    make_settings: Any, tmp_path: Path, in_pool: bool
) -> None:
    with pipeline_office(make_settings()) as office:
        with transaction(office.sessions) as session:
            bad = {**BASE, "to": ["Divi", "a@b.lv,c@d.lv"]}  # typed by staff: two addresses in one
            session.add(Outbox(kind="staff_notification", channel="email", recipient="a@b.lv", payload=bad,
                               next_attempt_at=office.clock() - timedelta(seconds=1)))  # fmt: skip
            session.add(Outbox(kind="staff_notification", channel="email", recipient="janis.kalnins@example.lv",
                               payload=BASE, next_attempt_at=office.clock() - timedelta(seconds=1)))  # fmt: skip
        pool = start(office, 0) if in_pool else None
        try:
            out = sender(office, tmp_path / "out")
            out.render_in(pool)
            assert out.deliver_due() == 2
        finally:
            if pool is not None:
                pool.close()
        failed, sent = outbox(office)
    assert failed.status == OutboxStatus.FAILED.value
    assert failed.last_error is not None and "not a usable e-mail address" in failed.last_error
    assert "a@b.lv" not in failed.last_error  # the address stays out of what is stored and logged
    assert sent.status == OutboxStatus.SENT.value
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1


def test_a_closed_pool_leaves_the_rendering_here(make_settings: Any, tmp_path: Path) -> None:
    # The pipeline gives its pool up after it broke three times, and closes it (ingest/pipeline/ahead.py).
    with pipeline_office(make_settings()) as office:
        pool = start(office, 5)
        pool.close()
        assert not pool.started()
        out = sender(office, tmp_path / "out")
        out.render_in(pool)
        while out.deliver_due():
            pass
        rows = outbox(office)
    assert rows and all(row.status == OutboxStatus.SENT.value for row in rows)


class StuckFuture(Future):  # type: ignore[type-arg]
    """A chunk the pool never gives back; counts how often it was waited for."""

    waited = 0

    def result(self, timeout: float | None = None) -> Any:
        StuckFuture.waited += 1
        raise FutureTimeout()


@dataclass
class StuckPool:
    processes: int = 1
    generation: int = 0

    def started(self) -> bool:
        return True

    def render(self, payloads: Any) -> Future:  # type: ignore[type-arg]
        return StuckFuture()


def test_a_stuck_pool_is_waited_for_once_per_batch(make_settings: Any, tmp_path: Path, caplog: Any) -> None:
    with pipeline_office(make_settings()) as office:
        with transaction(office.sessions) as session:
            for n in range(40):  # three chunks of the pool's
                session.add(Outbox(kind="staff_notification", channel="email", recipient="janis.kalnins@example.lv",
                                   payload={**BASE, "message_id": f"m{n}@example.lv"},
                                   next_attempt_at=office.clock() - timedelta(seconds=1)))  # fmt: skip
        out = sender(office, tmp_path / "out")
        out.render_in(StuckPool())  # type: ignore[arg-type]
        StuckFuture.waited = 0
        with caplog.at_level(logging.WARNING, logger="ingest.outgoing.mail_ahead"):
            assert out.deliver_due() == 40
        rows = outbox(office)
    assert StuckFuture.waited == 1  # the first chunk's wait ran out: the rest rendered here at once
    assert all(row.status == OutboxStatus.SENT.value for row in rows)
    assert "did not render outgoing mail (TimeoutError)" in caplog.text
