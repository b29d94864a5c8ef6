"""End to end, the service's main job: e-mails waiting -> every staff notification written (issue 17).

Run: .venv/bin/python -m bench.end_to_end [--messages 2000] [--skip-postgres]
                                          [--database-url postgresql+psycopg://root@127.0.0.1:5432/postgres]

Four rows, each against its baseline measured in the same run on the same messages:

- IMAP backlog: N mixed messages (bench._common.mixed_message: ~4 KB, every 5th with a PDF, some
  KOI8-R / ISO-8859-13, every 20th a reply) wait in a Dovecot folder and are moved into INBOX at
  once while ``ingest serve`` (IMAP on, relay-less: notifications are written as .eml files) is
  up; timed until N staff notifications are written. Baseline: imapclient fetch + a full parse
  of every part (bench.imap_backlog.plain_import), run before and after, their mean.
- SMTP burst: the same N messages sent over 4 connections to the service's SMTP listener; timed
  until N staff notifications are written. Baseline: a bare aiosmtpd sink (bench/smtp_sink.py, a
  process of its own) that parses each message the same way and commits it to SQLite before
  its 250.

Each on SQLite and, unless skipped, on a throwaway database of the PostgreSQL server. Printed:
messages/s, the ratio to the baseline (issue 17's goal: 0.5), the service's CPU per message
(/proc), and, from an in-process run of the pipeline and the outbox on the same messages, the
SQL statements and commits per message (SQLAlchemy event hooks).
"""

from __future__ import annotations

import argparse
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench._common import (
    ROOT,
    exit_cleanly_on_sigterm,
    free_port,
    machine,
    service_config,
    start_service,
    stop,
    throwaway_database,
    wait_up,
)
from bench.e2e_counts import statements_per_message
from bench.imap_backlog import build_mailbox, plain_import
from tests.dovecot import Dovecot, ImapUser
from tests.imap_helpers import append_all

DEFAULT_PG = "postgresql+psycopg://root@127.0.0.1:5432/postgres"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def notifications(folder: Path) -> int:
    return sum(1 for p in folder.glob("*-staff_*.eml")) if folder.exists() else 0


def run_service(
    database_url: str, env: dict[str, str], start: Callable[[int], None], total: int
) -> tuple[float, float]:
    """``ingest serve`` on ``database_url``; ``start(smtp_port)`` sets the messages going once it
    is up. Returns (seconds until ``total`` staff notifications are written, CPU s per message)."""
    with tempfile.TemporaryDirectory(prefix="gk-bench-e2e-") as tmp:
        http_port, smtp_port = free_port(), free_port()
        config = service_config(Path(tmp), http_port=http_port, smtp_port=smtp_port)
        db = {"INGEST__DATABASE__URL": database_url} if database_url else {}
        process = start_service(config, {**env, **db})
        try:
            wait_up(f"http://127.0.0.1:{http_port}/health", timeout=300)
            folder = Path(tmp) / "var" / "outgoing-mail"
            cpu0, t0 = cpu_seconds(process.pid), time.perf_counter()
            start(smtp_port)
            while notifications(folder) < total:
                if process.poll() is not None:
                    raise RuntimeError("the service stopped")
                time.sleep(0.05)
            return time.perf_counter() - t0, (cpu_seconds(process.pid) - cpu0) / total
        finally:
            stop(process)


def smtp_burst(port: int, messages: list[bytes], connections: int = 4) -> None:
    def send(part: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
            for raw in part:
                client.sendmail("client@example.net", ["klienti@example.lv"], raw)

    threads = [threading.Thread(target=send, args=(messages[i::connections],)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def sink_rate(messages: list[bytes]) -> float:
    """messages/s of the bare aiosmtpd parse-and-commit sink for the burst."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gk-bench-sink-") as tmp:
        sink = subprocess.Popen([sys.executable, str(ROOT / "bench" / "smtp_sink.py"), str(port), f"{tmp}/sink.db"])
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    smtplib.SMTP("127.0.0.1", port, timeout=5).quit()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            t0 = time.perf_counter()
            smtp_burst(port, messages)
            return len(messages) / (time.perf_counter() - t0)
        finally:
            stop(sink)


def imap_env(user: ImapUser) -> dict[str, str]:
    return {f"INGEST__IMAP__{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in user.settings().items()}  # fmt: skip


def move_all(user: ImapUser) -> None:
    client = user.client(folder="Staging")
    client.move(client.search(["ALL"]), "INBOX")
    client.logout()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database-url", default=DEFAULT_PG, help="a PostgreSQL server for throwaway databases")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    total = args.messages
    print(f"machine: {machine()}")
    messages = build_mailbox(total)
    databases = [("SQLite", "")] + ([] if args.skip_postgres else [("PostgreSQL", args.database_url)])
    server = Dovecot()
    server.start(pool=2)
    rows: list[str] = []
    try:
        for label, server_url in databases:
            rows += measure(server, label, server_url, messages)
    finally:
        server.cleanup()
    print(f"\n{total} messages; ratio = end-to-end rate / baseline rate (goal 0.5)")
    header = f"{'path':14} {'database':11} {'msg/s':>7} {'baseline':>9} {'ratio':>6} {'CPU ms/msg':>11}"
    print(f"{header} statements/commits")
    for row in rows:
        print(row)


def measure(server: Dovecot, label: str, server_url: str, messages: list[bytes]) -> list[str]:
    total = len(messages)
    rows = []
    with throwaway_database(server_url or None, "counts") as url:
        stmts, commits = statements_per_message(url, messages)
    counts = f"{stmts:.1f} / {commits:.3f}"
    # IMAP backlog.
    user = server.new_user()
    append_all(user, messages)
    base1, n, _ = plain_import(user, 200)
    assert n == total, n
    client = user.client()
    client.create_folder("Staging")
    client.move(client.search(["ALL"]), "Staging")
    client.logout()
    with throwaway_database(server_url or None, "imap") as url:
        seconds, cpu = run_service(url, imap_env(user), lambda _port: move_all(user), total)
    user2 = server.new_user()
    append_all(user2, messages)
    base2, _, _ = plain_import(user2, 200)
    base = total / ((base1 + base2) / 2)
    rate = total / seconds
    rows.append(f"{'IMAP backlog':14} {label:11} {rate:7.1f} {base:9.1f} {rate / base:6.3f} {cpu * 1e3:11.1f} {counts}")
    print(rows[-1], flush=True)
    # SMTP burst.
    sink = sink_rate(messages)
    with throwaway_database(server_url or None, "smtp") as url:
        seconds, cpu = run_service(url, {}, lambda port: smtp_burst(port, messages), total)
    rate = total / seconds
    rows.append(f"{'SMTP burst':14} {label:11} {rate:7.1f} {sink:9.1f} {rate / sink:6.3f} {cpu * 1e3:11.1f} {counts}")
    print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    main()
