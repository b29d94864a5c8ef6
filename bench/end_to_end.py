"""End to end, the service's main job: e-mails waiting -> every staff notification written (issue 17).

Run: .venv/bin/python -m bench.end_to_end [--messages 2000] [--skip-postgres] [--workers 1,2,4]
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

Each on SQLite and, unless skipped, on a throwaway database of the PostgreSQL server, there once
per number of ``--workers``: ``ingest serve`` and that many less one ``ingest serve --roles worker``
processes sharing the queues (SKIP LOCKED; they poll every 0.2 s). Printed:
messages/s, the ratio to the baseline (issue 17's goal: 0.5), the service's CPU per message
(/proc; its preparing processes, [pipeline] prepare_processes, included), and, from an
in-process run of the pipeline and the outbox on the same messages, the SQL statements and
commits per message (SQLAlchemy event hooks).
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
    """CPU of the process and of its children that are running (the pipeline's preparing pool)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # itself, or its parent is
            total += (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in ticks of 1/100 s
    return total


def notifications(folder: Path) -> int:
    return sum(1 for p in folder.glob("*-staff_*.eml")) if folder.exists() else 0


def run_service(
    database_url: str, env: dict[str, str], start: Callable[[int], None], total: int, workers: int = 1
) -> tuple[float, float]:
    """``ingest serve`` on ``database_url``, and ``workers - 1`` more processes that only work the
    queues (``--roles worker``); ``start(smtp_port)`` sets the messages going once it is up. Returns
    (seconds until ``total`` staff notifications are written, CPU s per message of all of them)."""
    with tempfile.TemporaryDirectory(prefix="gk-bench-e2e-") as tmp:
        http_port, smtp_port = free_port(), free_port()
        config = service_config(Path(tmp), http_port=http_port, smtp_port=smtp_port)
        db = {"INGEST__DATABASE__URL": database_url} if database_url else {}
        # The extra processes hear of new work only by polling: poll often, as a busy office would set it.
        polling = {f"INGEST__{queue}__POLL_SECONDS": "0.2" for queue in ("PIPELINE", "OUTBOX") if workers > 1}
        processes = [start_service(config, {**env, **db, **polling})]
        try:
            for n in range(1, workers):
                # Each process answers /health on a port of its own; the data folder is shared.
                extra = Path(tmp) / f"worker-{n}.toml"
                extra.write_text(config.read_text().replace(f"port = {http_port}", f"port = {free_port()}"))
                processes.append(start_service(extra, {**db, **polling}, roles="worker"))
            wait_up(f"http://127.0.0.1:{http_port}/health", timeout=300)
            folder = Path(tmp) / "var" / "outgoing-mail"
            cpu0, t0 = sum(cpu_seconds(p.pid) for p in processes), time.perf_counter()
            start(smtp_port)
            while notifications(folder) < total:
                if any(p.poll() is not None for p in processes):
                    raise RuntimeError("a service process stopped")
                time.sleep(0.05)
            seconds = time.perf_counter() - t0
            return seconds, (sum(cpu_seconds(p.pid) for p in processes) - cpu0) / total
        finally:
            for process in processes:
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
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL: processes working the queues, per row")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    total = args.messages
    print(f"machine: {machine()}")
    messages = build_mailbox(total)
    databases = [("SQLite", "", [1])]
    if not args.skip_postgres:
        databases.append(("PostgreSQL", args.database_url, [int(n) for n in args.workers.split(",")]))
    server = Dovecot()
    server.start(pool=2)
    rows: list[str] = []
    try:
        for label, server_url, workers in databases:
            rows += measure(server, label, server_url, messages, workers)
    finally:
        server.cleanup()
    print(f"\n{total} messages; ratio = end-to-end rate / baseline rate (goal 0.5)")
    header = f"{'path':14} {'database':11} {'workers':>7} {'msg/s':>7} {'baseline':>9} {'ratio':>6} {'CPU ms/msg':>11}"
    print(f"{header} statements/commits")
    for row in rows:
        print(row)


def measure(server: Dovecot, label: str, server_url: str, messages: list[bytes], workers: list[int]) -> list[str]:
    total = len(messages)
    rows = []
    with throwaway_database(server_url or None, "counts") as url:
        stmts, commits = statements_per_message(url, messages)
    counts = f"{stmts:.1f} / {commits:.3f}"

    def row(path: str, n: int, rate: float, base: float, cpu: float) -> None:
        rows.append(f"{path:14} {label:11} {n:7} {rate:7.1f} {base:9.1f} {rate / base:6.3f} {cpu * 1e3:11.1f} {counts}")
        print(rows[-1], flush=True)

    # IMAP backlog: the baseline before and after the runs, their mean.
    user = server.new_user()
    append_all(user, messages)
    base1, n, _ = plain_import(user, 200)
    assert n == total, n
    results = []
    for count in workers:
        staged = server.new_user()
        append_all(staged, messages)
        client = staged.client()
        client.create_folder("Staging")
        client.move(client.search(["ALL"]), "Staging")
        client.logout()
        with throwaway_database(server_url or None, "imap") as url:
            seconds, cpu = run_service(url, imap_env(staged), lambda _port, u=staged: move_all(u), total, count)
        results.append((count, seconds, cpu))
    user2 = server.new_user()
    append_all(user2, messages)
    base2, _, _ = plain_import(user2, 200)
    base = total / ((base1 + base2) / 2)
    for count, seconds, cpu in results:
        row("IMAP backlog", count, total / seconds, base, cpu)
    # SMTP burst.
    sink = sink_rate(messages)
    for count in workers:
        with throwaway_database(server_url or None, "smtp") as url:
            seconds, cpu = run_service(url, {}, lambda port: smtp_burst(port, messages), total, count)
        row("SMTP burst", count, total / seconds, sink, cpu)
    return rows


if __name__ == "__main__":
    main()
