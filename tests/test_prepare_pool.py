"""Receipts prepared in a pool of processes (ingest/pipeline/prepare.py): the same inquiries as
without it, the text read once, a killed process costing nothing, and a receipt prepared after
its batch began still seeing what the batch stored before it."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from bench.imap_backlog import build_mailbox
from channels.email import EmailChannel
from ingest.assembly import preparer_from_settings
from ingest.config import Settings
from ingest.intake.receipts import IncomingReceipt
from ingest.pipeline.ahead import Ahead
from ingest.pipeline.prepare import Job, Preparer, PreparingPool
from ingest.pipeline.runner import Pipeline
from storage.models import Contact, Inquiry, Message, Outbox, Receipt
from tests.fault_helpers import ServiceProcess, base_env, smtp_once
from tests.fault_helpers import client_mail as fault_mail
from tests.pipeline_office import PipelineOffice, pipeline_office
from tests.smtp_helpers import client_mail
from tests.support import wait_until


def store(office: PipelineOffice, messages: list[bytes]) -> None:
    channel = EmailChannel()
    office.store.store_many_sync([IncomingReceipt(channel, "smtp", raw, {}) for raw in messages])


def run_all(office: PipelineOffice) -> None:
    while office.pipeline.process_due():
        pass


def inquiries(office: PipelineOffice) -> list[tuple[Any, ...]]:
    with Session(office.engine) as session:
        rows = session.exec(select(Inquiry).order_by(col(Inquiry.id))).all()
        return [(i.subject, i.topic, i.kind, i.language, i.complexity, i.employee_id, i.due_at) for i in rows]


def test_the_pool_routes_every_message_as_the_pipeline_alone_does(make_settings: Any, monkeypatch: Any) -> None:
    messages = build_mailbox(80)
    with pipeline_office(make_settings()) as alone:
        store(alone, messages)
        run_all(alone)
        expected = inquiries(alone)
    with pipeline_office(make_settings()) as office:
        pool = PreparingPool(partial(preparer_from_settings, office.settings), 1)
        try:
            office.pipeline.prepare_in(pool)

            def read_again(**_: Any) -> None:
                raise AssertionError("the pool read this text already")

            # Every message the pool prepared is routed on its reading: this process reads no text.
            monkeypatch.setattr(office.pipeline.router.understander, "understand", read_again)
            store(office, messages)
            run_all(office)
        finally:
            pool.close()
        assert inquiries(office) == expected
        with Session(office.engine) as session:
            assert len(session.exec(select(Outbox)).all()) >= len(expected)
            waiting = session.exec(select(Receipt).where(Receipt.status != "processed")).all()
            assert waiting == []
    assert len(expected) > 60  # most of the mailbox opens inquiries: the comparison covers routing


def test_a_killed_pool_process_costs_a_warning_and_no_message(make_settings: Any, caplog: Any) -> None:
    with pipeline_office(make_settings()) as office:
        pool = PreparingPool(partial(preparer_from_settings, office.settings), 1)
        try:
            office.pipeline.prepare_in(pool)
            pool.warm()
            store(office, build_mailbox(20))
            run_all(office)  # the pool works
            for pid in list(pool._executor._processes):  # type: ignore[union-attr]
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            mails = [
                client_mail(f"Izvešana {n}", "Konteiners ir pilns.", sender=f"k{n}@example.net") for n in range(10)
            ]
            store(office, [mail.as_bytes() for mail in mails])
            with caplog.at_level(logging.WARNING, logger="ingest.pipeline.ahead"):
                run_all(office)
            assert "BrokenProcessPool" in caplog.text
            assert pool.generation == 1, caplog.text  # new processes for what comes next
            store(office, [client_mail("Lifts", "Nestrādā lifts.", sender="lifts@example.net").as_bytes()])
            run_all(office)
        finally:
            pool.close()
        with Session(office.engine) as session:
            receipts = session.exec(select(Receipt)).all()
            assert len(receipts) == 31 and all(r.status == "processed" for r in receipts)


@dataclass
class SlowEmail:
    """The e-mail channel, taking its time over a message whose subject says SLOW."""

    inner: EmailChannel = field(default_factory=EmailChannel)
    name: str = "email"

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        return self.inner.natural_id(raw, meta)

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> Any:
        if b"Subject: SLOW" in raw:
            time.sleep(1.5)
        return self.inner.normalise(raw, meta)


def slow_preparer(settings: Settings) -> Preparer:
    ready = preparer_from_settings(settings)
    return Preparer({**ready.channels, "email": SlowEmail()}, ready.understander)


def slow_office(office: PipelineOffice, processes: int, **changes: Any) -> tuple[Pipeline, PreparingPool]:
    pipeline = replace(office.pipeline, **changes)
    pool = PreparingPool(partial(slow_preparer, office.settings), processes)
    pipeline.prepare_in(pool)
    pool.warm()
    time.sleep(3)  # the processes are up, so the first chunk is ready before the slow one
    return pipeline, pool


FIRST = client_mail("Konteiners", "Lūdzu izvest atkritumus.", sender="anna@example.net")
SLOW = client_mail("SLOW", "Lifts nestrādā.", sender="slow@example.net")
AGAIN = client_mail("Konteiners", "Un vēl: vāks ir salūzis.", sender="anna@example.net")


@pytest.mark.parametrize("processes", [1, 2])
def test_a_receipt_prepared_after_its_batch_began_sees_what_the_batch_stored(
    make_settings: Any, processes: int
) -> None:
    """The batch's read-ahead queries cover only what was ready when it began: a client's second
    message, prepared after a slow one, still finds the contact and the inquiry her first one
    opened earlier in the same batch."""
    with pipeline_office(make_settings()) as office:
        pipeline, pool = slow_office(office, processes, max_batch_seconds=10)
        try:
            store(office, [FIRST.as_bytes(), SLOW.as_bytes(), AGAIN.as_bytes()])  # a chunk each
            assert pipeline.process_due() == 3  # one batch, waiting for the slow one inside it
        finally:
            pool.close()
        with Session(office.engine) as session:
            receipts = session.exec(select(Receipt)).all()
            messages = session.exec(select(Message).where(Message.sender == "anna@example.net")).all()
            contacts = session.exec(select(Contact).where(Contact.email == "anna@example.net")).all()
            assert [r.status for r in receipts] == ["processed"] * 3
            assert len(messages) == 2 and len(contacts) == 1
            assert len({m.inquiry_id for m in messages}) == 1  # her second message joins her open inquiry


def test_a_receipt_still_being_prepared_waits_outside_the_batch(make_settings: Any) -> None:
    """A batch waits for a receipt's preparation only within its time budget (it holds SQLite's
    write lock); the next batch waits for the rest before it takes the lock."""
    with pipeline_office(make_settings()) as office:
        pipeline, pool = slow_office(office, 1, max_batch_seconds=0.25)
        try:
            store(office, [FIRST.as_bytes(), SLOW.as_bytes(), AGAIN.as_bytes()])
            started = time.monotonic()
            assert pipeline.process_due() == 1
            assert time.monotonic() - started < 1.2  # did not wait out the slow one's 1.5 s
            assert pipeline.process_due() == 2
        finally:
            pool.close()


def pool_processes(pid: int) -> set[int]:
    """The running children of ``pid`` that multiprocessing spawned (the pool, its resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = stat.read_text().rsplit(")", 1)[1].split()[1]
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if parent == str(pid) and b"multiprocessing" in command:
            found.add(int(stat.parent.name))
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists() and b"zombie" not in _state(pid)}


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes()
    except OSError:
        return b"zombie"


@pytest.mark.parametrize("ending", ["SIGTERM", "SIGKILL"])
def test_serve_prepares_in_its_own_processes_and_they_end_with_it(
    tmp_path: Path, database_url: str, ending: str
) -> None:
    service = ServiceProcess(tmp_path, base_env(database_url, INGEST__PIPELINE__PREPARE_PROCESSES="1"))
    service.start()
    try:
        assert service.popen is not None
        pid = service.popen.pid
        wait_until(lambda: len(pool_processes(pid)) == 2, what="the preparing process and its tracker up")
        children = pool_processes(pid)
        raw, sender = fault_mail(1, tag="pool")
        assert smtp_once(service.smtp_port, raw, sender).startswith("250")
        outgoing = tmp_path / "var" / "outgoing-mail"
        wait_until(lambda: len(list(outgoing.glob("*-staff_notification.eml"))) == 1, what="the staff notified")
    finally:
        service.stop() if ending == "SIGTERM" else service.kill()
    # A killed service cannot stop its pool: the pool's process sees its parent gone and ends.
    wait_until(lambda: not alive(children), timeout=15, what="the preparing processes ended")


def broken_preparer(settings: Settings) -> Preparer:
    raise RuntimeError("as a process whose code changed under it")


def test_processes_that_die_as_they_start_are_given_up_after_three_restarts(make_settings: Any, caplog: Any) -> None:
    with pipeline_office(make_settings()) as office:
        pool = PreparingPool(partial(broken_preparer, office.settings), 1)
        office.pipeline.prepare_in(pool)
        pool.warm()
        with caplog.at_level(logging.WARNING, logger="ingest.pipeline.ahead"):
            deadline, n = time.monotonic() + 90, 0  # each start takes a process a second or two
            while office.pipeline._ahead.pool is not None and time.monotonic() < deadline:
                n += 1
                store(office, [client_mail(f"Izvešana {n}", "Konteiners.", sender=f"k{n}@example.net").as_bytes()])
                run_all(office)
                time.sleep(0.2)
        assert office.pipeline._ahead.pool is None, caplog.text
        assert pool.generation == 3 and "failed 4 times" in caplog.text
        with Session(office.engine) as session:
            assert all(r.status == "processed" for r in session.exec(select(Receipt)).all())


def stuck_preparer() -> Preparer:
    time.sleep(3600)  # a process that never comes up
    raise AssertionError("unreachable")


def test_closing_kills_a_process_that_does_not_stop() -> None:
    pool = PreparingPool(stuck_preparer, 1)
    pool.warm()
    time.sleep(2)  # it is up, and stuck in its start
    (process,) = pool._executor._processes.values()  # type: ignore[union-attr]
    assert process.is_alive()
    started = time.monotonic()
    pool.close(timeout=2)
    took = time.monotonic() - started
    assert took < 10 and not process.is_alive(), (took, process.exitcode)


def test_prepare_processes_default_to_one_less_than_the_cores(make_settings: Any) -> None:
    default = make_settings().pipeline
    assert [default.preparing_processes(cores) for cores in (None, 1, 2, 3, 8, 64)] == [0, 0, 1, 2, 4, 4]
    assert make_settings(pipeline={"prepare_processes": 0}).pipeline.preparing_processes(8) == 0
    assert make_settings(pipeline={"prepare_processes": 6}).pipeline.preparing_processes(2) == 6


@dataclass
class BrokenPool:
    """A pool on its last restart whose processes are gone: every submit fails."""

    processes: int = 1
    generation: int = 3
    closed: bool = False

    def started(self) -> bool:
        return True

    def submit(self, jobs: Any) -> Any:
        raise BrokenProcessPool("a process died as it started")

    def close(self) -> None:
        self.closed = True


def test_a_pool_given_up_between_two_chunks_of_a_batch_leaves_the_rest_prepared_here() -> None:
    pool = BrokenPool()
    ahead = Ahead(here=lambda: Preparer({"email": EmailChannel()}), pool=pool)  # type: ignore[arg-type]
    mails = [client_mail(f"Izvešana {n}", "Konteiners.", sender=f"k{n}@example.net").as_bytes() for n in range(8)]
    meta = {"received_at": "2026-11-25T09:00:00+00:00"}
    ahead.start([Job(n, "email", raw, meta) for n, raw in enumerate(mails)])  # four chunks of two
    assert pool.closed and ahead.pool is None
    assert [ahead.result(n).inbound.subject for n in range(8)] == [f"Izvešana {n}" for n in range(8)]  # type: ignore[union-attr]
