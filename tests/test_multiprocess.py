"""Two real `ingest serve` processes on one PostgreSQL database; one is killed with SIGKILL mid-stream.

PostgreSQL only: several processes on one SQLite file is not a supported set-up (one writer).

What is proved: every message (over SMTP to either process, and over IMAP from one shared
mailbox) is stored once and processed once; every inquiry gets exactly one staff notification
row, and the relay sees it once, except for the window the outbox documents (a process killed
after the relay accepted a message and before it recorded that: the survivor sends it again
after the lease, with the same Message-ID); the IMAP poller and the deadline scheduler move to
the survivor, as /health and /metrics show.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func
from sqlmodel import Session, col, select

from storage.models import Inquiry, Message, Outbox, Receipt
from tests.dovecot import Dovecot
from tests.imap_helpers import append_all, client_message, flags_by_uid
from tests.support import ROOT, Relay, empty_pg_database, free_port, wait_until

N_SMTP = 40
N_IMAP = 20
LEASE_SECONDS = 3
RELAY_DELAY = 0.05  # seconds per message at the relay: keeps deliveries in flight when the kill comes


class SlowRelay(Relay):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(RELAY_DELAY)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class Proc:
    name: str
    http_port: int
    smtp_port: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    killed: bool = field(default=False)

    def health(self) -> dict[str, Any] | None:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.http_port}/health", timeout=5)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def leads(self) -> dict[str, str]:
        return (self.health() or {}).get("leadership", {})

    def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        text = httpx.get(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10).text
        out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
        return out


@pytest.fixture
def pg_url(pg_database: str) -> str:
    empty_pg_database(pg_database)
    return pg_database


@pytest.fixture
def slow_relay() -> Iterator[SlowRelay]:
    server = SlowRelay()
    server.start()
    yield server
    server.stop()


def start(proc: Proc, config: Path, env: dict[str, str]) -> None:
    proc_env = {
        **env,
        "INGEST__SERVICE__DATA_DIR": str(config.parent / f"var-{proc.name}"),
        "INGEST__HTTP__PORT": str(proc.http_port),
        "INGEST__SMTP_LISTENER__PORT": str(proc.smtp_port),
    }
    with proc.log.open("ab") as log:
        # The outbox lease is 3 s here (production: 5 min), so the survivor takes over the rows the
        # killed process had claimed within the test's time.
        proc.popen = subprocess.Popen(
            [sys.executable, "-m", "ingest.cli", "serve", "--config", str(config)],
            cwd=ROOT,
            env=proc_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def send_smtp(port: int, raw: bytes, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(sender, ["klienti@example.lv"], raw)


@pytest.mark.slow  # two `ingest serve` processes, one killed with kill -9
def test_two_processes_one_killed(pg_url: str, slow_relay: SlowRelay, dovecot: Dovecot, tmp_path: Path) -> None:
    imap_user = dovecot.new_user()
    config = tmp_path / "config.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "INGEST__OUTBOX__LEASE_SECONDS": str(LEASE_SECONDS),
        "INGEST__SERVICE__LOG_LEVEL": "INFO",
        "INGEST__DATABASE__URL": pg_url,
        "INGEST__DATABASE__POOL_SIZE": "5",
        "INGEST__OUTGOING_MAIL__RELAY_HOST": "127.0.0.1",
        "INGEST__OUTGOING_MAIL__RELAY_PORT": str(slow_relay.port),
        "INGEST__OUTGOING_MAIL__SECURITY": "none",
        "INGEST__PIPELINE__POLL_SECONDS": "0.5",
        "INGEST__PIPELINE__BACKOFF_BASE_SECONDS": "0.2",
        "INGEST__PIPELINE__BACKOFF_MAX_SECONDS": "1",
        "INGEST__OUTBOX__POLL_SECONDS": "0.5",
        "INGEST__OUTBOX__BACKOFF_BASE_SECONDS": "0.2",
        "INGEST__OUTBOX__BACKOFF_MAX_SECONDS": "1",
        # Small claims, so that both processes send side by side.
        "INGEST__OUTBOX__BATCH_SIZE": "5",
        "INGEST__CLUSTER__LEADER_RETRY_SECONDS": "0.5",
        **{
            f"INGEST__IMAP__{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in imap_user.settings().items()
        },
    }
    a = Proc("a", free_port(), free_port(), tmp_path / "a.log")
    b = Proc("b", free_port(), free_port(), tmp_path / "b.log")
    engine = create_engine(pg_url)
    try:
        # A first, so that it leads both roles; then B, which stands by.
        start(a, config, env)
        wait_until(lambda: a.leads() == {"scheduler": "leader", "imap": "leader"}, timeout=60, what="A to lead")
        start(b, config, env)
        wait_until(lambda: b.leads() == {"scheduler": "follower", "imap": "follower"}, timeout=60, what="B to stand by")
        assert (b.health() or {})["components"]["imap"] == "standby"
        assert b.metrics()["gk_leader"] == {(("role", "imap"),): 0.0, (("role", "scheduler"),): 0.0}

        imap_first = [client_message(1000 + n) for n in range(N_IMAP // 2)]
        imap_second = [client_message(1000 + n) for n in range(N_IMAP // 2, N_IMAP)]
        append_all(imap_user, imap_first)

        # SMTP: alternate between the processes; a failed attempt (the process is gone, or died
        # mid-transaction) is sent to the other one, as a real MTA retries.
        sent = 0
        retried_after_failure = 0
        feed_errors: list[BaseException] = []

        def feed() -> None:
            nonlocal sent, retried_after_failure
            try:
                for n in range(N_SMTP):
                    raw = client_message(n)
                    sender = f"client{n}@client{n % 17}.example"
                    order = [a, b] if n % 2 == 0 else [b, a]
                    for attempt in range(40):
                        target = order[attempt % 2]
                        if target.killed:
                            continue
                        try:
                            send_smtp(target.smtp_port, raw, sender)
                            break
                        except (OSError, smtplib.SMTPException):
                            retried_after_failure += 1
                            time.sleep(0.1)
                    else:
                        raise AssertionError(f"message {n} could not be handed in")
                    sent += 1
                    time.sleep(0.02)
            except BaseException as exc:  # noqa: BLE001
                feed_errors.append(exc)

        feeder = threading.Thread(target=feed, name="smtp-feed")
        feeder.start()

        def mid_stream() -> bool:
            return sent >= N_SMTP // 2 and len(slow_relay.messages) >= 5

        wait_until(mid_stream, timeout=60, what="half the messages in and deliveries going out")
        with Session(engine) as session:
            at_kill = dict(session.exec(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
            receipts_at_kill = dict(session.exec(select(Receipt.status, func.count()).group_by(Receipt.status)).all())
            sending_at_kill = set(session.exec(select(Outbox.id).where(col(Outbox.status) == "sending")).all())
        assert a.popen is not None
        a.killed = True
        a.popen.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        a.popen.wait(10)
        print(
            f"\nkilled A after {sent} SMTP messages; relay had {len(slow_relay.messages)}; "
            f"outbox then {at_kill}; receipts then {receipts_at_kill}"
        )

        wait_until(lambda: b.leads() == {"scheduler": "leader", "imap": "leader"}, timeout=30, what="B to take over")
        takeover = time.monotonic() - killed_at
        print(f"B leads imap and scheduler {takeover:.2f} s after the kill")
        append_all(imap_user, imap_second)

        feeder.join(120)
        assert not feeder.is_alive()
        assert not feed_errors, feed_errors
        total = N_SMTP + N_IMAP

        def all_done() -> bool:
            with Session(engine) as session:
                receipts = session.exec(select(func.count()).where(col(Receipt.status) == "processed")).one()
                open_outbox = session.exec(select(func.count()).where(col(Outbox.status) != "sent")).one()
                staff_rows = session.exec(select(func.count()).where(col(Outbox.kind) == "staff_notification")).one()
            return receipts == total and staff_rows == total and open_outbox == 0

        wait_until(all_done, timeout=90, interval=0.5, what="everything processed and sent")
        # The relay records a message before the sender records it as sent; let any last one land.
        time.sleep(0.5)

        with Session(engine) as session:
            receipts = session.exec(select(Receipt)).all()
            inquiries = session.exec(select(Inquiry)).all()
            messages = session.exec(select(Message)).all()
            outbox = session.exec(select(Outbox)).all()
        by_source = Counter(r.source for r in receipts)
        assert len(receipts) == total and by_source == {"smtp": N_SMTP, "imap": N_IMAP}, by_source
        assert len({r.natural_id for r in receipts}) == total
        assert all(r.status == "processed" for r in receipts)
        # Two pipelines claimed side by side without a single failure (nothing parked, ever).
        assert all(r.attempts == 0 and r.last_error is None for r in receipts)
        assert len(inquiries) == total and len(messages) == total
        staff_rows = Counter(o.inquiry_id for o in outbox if o.kind == "staff_notification")
        assert set(staff_rows.values()) == {1} and len(staff_rows) == total
        # Rows in "sending" when A died were A's (or B's, finishing them); A's were taken again once
        # their lease ran out. All of them are sent now.
        assert all(o.status == "sent" for o in outbox if o.id in sending_at_kill)

        # At the relay: each inquiry's staff notification arrived; count repeats by Message-ID.
        staff = slow_relay.staff()
        by_reference = Counter(m["X-Inquiry-Reference"] for m in staff)
        assert set(by_reference) == {i.reference for i in inquiries}
        ids = Counter(str(m["Message-ID"]).strip("<>") for m in slow_relay.parsed())
        duplicates = {mid: n for mid, n in ids.items() if n > 1}
        kinds = {o.external_id.removeprefix("mid:").strip("<>"): o.kind for o in outbox if o.external_id}
        expected_ids = {o.external_id.removeprefix("mid:").strip("<>") for o in outbox if o.external_id}
        assert set(ids) == expected_ids, "every outgoing message arrived, nothing else"
        print(
            f"receipts {len(receipts)} ({dict(by_source)}), inquiries {len(inquiries)}, outbox rows {len(outbox)}, "
            f"relay messages {len(slow_relay.messages)} ({len(staff)} to staff), SMTP hand-ins retried after a "
            f"failure {retried_after_failure}, outbox rows in flight at the kill {len(sending_at_kill)}, "
            f"duplicate deliveries at the relay {sum(n - 1 for n in duplicates.values())} "
            f"{sorted(kinds[mid] for mid in duplicates)}"
        )
        # A killed process can have relayed at most one message it had not yet recorded as sent:
        # it sends its claimed rows one by one and commits each result before the next.
        assert sum(n - 1 for n in duplicates.values()) <= 1, duplicates
        assert all(n == 2 for n in duplicates.values())

        # The mailbox: every message marked on the server by whichever poller stored it.
        flags = flags_by_uid(imap_user)
        assert len(flags) == N_IMAP and all(b"$GkIngested" in f for f in flags.values())

        # The survivor says so too.
        health = b.health()
        assert health is not None and health["status"] == "ok"
        assert health["components"]["imap"] == "running"
        metrics = b.metrics()
        assert metrics["gk_leader"] == {(("role", "imap"),): 1.0, (("role", "scheduler"),): 1.0}
        assert metrics["gk_receipts"] == {(("channel", "email"), ("status", "processed")): float(total)}
        assert metrics["gk_notification_latency_seconds_gcount"] == {(): float(total)}
    except BaseException:
        for proc in (a, b):
            if proc.log.exists():
                print(
                    f"--- {proc.name}.log (tail) ---\n"
                    + "\n".join(proc.log.read_text(errors="replace").splitlines()[-60:])
                )
        raise
    finally:
        for proc in (a, b):
            if proc.popen is not None and proc.popen.poll() is None:
                proc.popen.terminate()
                try:
                    proc.popen.wait(30)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
        engine.dispose()
