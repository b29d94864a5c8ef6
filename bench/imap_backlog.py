"""An IMAP backlog of N messages: the service's ingestion against a plain imapclient importer, same run.

Run: .venv/bin/python -m bench.imap_backlog [--messages 10000] [--batch 200]
                                            [--database-url postgresql+psycopg://root@127.0.0.1:5432/postgres]

A throwaway Dovecot (tests/dovecot.py) gets one mailbox of N mixed messages (about 4 KB each;
every 5th with a PDF attachment, 2 in 7 in KOI8-R or ISO-8859-13, every 20th a follow-up that
refers to an earlier message by In-Reply-To). Measured on that same mailbox, in this order:

1. baseline: a plain imapclient fetch (BODY.PEEK[] in batches) parsing each message with
   ``email.message_from_bytes(..., policy=email.policy.default)`` and reading every body part and
   attachment: what a naive importer does, storing nothing;
2. the ImapPoller alone: fetch, store every message as a durable receipt together with the
   mailbox position (one transaction per batch), then flag the batch on the server;
3. end to end: the ImapPoller and the pipeline (Pipeline.process_due in a loop, in a thread of
   its own, as the running service does) until every receipt is an inquiry or a follow-up;
4. the baseline again (the machine is shared: its mean is the reference).

2 and 3 each start on a fresh empty database (SQLite in a temp dir with WAL and synchronous=FULL,
as the service runs; or new throwaway databases on the PostgreSQL server of --database-url).
Printed: messages/s of each and the ratios to the baseline (issue 7's goal for the poller: 0.5).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import tempfile
import threading
import time
from email.parser import BytesHeaderParser
from pathlib import Path

from bench._common import bench_settings, exit_cleanly_on_sigterm, machine, mixed_message, throwaway_database
from channels.email import EmailChannel
from ingest.assembly import build_pipeline, sync_employees
from ingest.config import ImapSettings
from ingest.intake.imap_poller import ImapPoller
from ingest.intake.receipts import ReceiptStore
from storage.db import make_engine, migrate, session_factory
from storage.types import utcnow
from tests.dovecot import Dovecot, ImapUser
from tests.imap_helpers import append_all


def build_mailbox(total: int) -> list[bytes]:
    messages: list[bytes] = []
    ids: list[str] = []
    parser = BytesHeaderParser()
    for n in range(total):
        reply_to = ids[n - 7] if n % 20 == 19 else None
        raw = mixed_message(n, reply_to=reply_to)
        ids.append("".join(str(parser.parsebytes(raw)["Message-ID"]).split()))
        messages.append(raw)
    return messages


def plain_import(user: ImapUser, batch: int) -> tuple[float, int, int]:
    """The baseline: fetch every message and parse it fully; returns (seconds, messages, bytes read)."""
    start = time.perf_counter()
    client = user.client(folder=None)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["ALL"]))
    done = size = 0
    for i in range(0, len(uids), batch):
        fetched = client.fetch(uids[i : i + batch], ["BODY.PEEK[]", "INTERNALDATE"])
        for uid in uids[i : i + batch]:
            msg = email.message_from_bytes(fetched[uid][b"BODY[]"], policy=email.policy.default)
            _ = (msg["From"], msg["Subject"], msg["Message-ID"], msg["Date"])
            for part in msg.walk():
                if part.is_multipart():
                    continue
                content = part.get_content()  # decoded text (str) or attachment bytes
                size += len(content)
            done += 1
    client.logout()
    return time.perf_counter() - start, done, size


def ingest(user: ImapUser, database_url: str, total: int, batch: int, *, pipeline: bool) -> dict[str, float]:
    """The ImapPoller (and, with ``pipeline``, the pipeline) on a fresh database until all is done."""
    with tempfile.TemporaryDirectory(prefix="gk-bench-imap-") as tmp:
        settings = bench_settings(database_url, Path(tmp))
        engine = make_engine(database_url, pool_size=5)
        migrate(engine)
        sessions = session_factory(engine)
        sync_employees(sessions, settings)
        worker = build_pipeline(settings, sessions, utcnow)
        poller = ImapPoller(
            ImapSettings(**user.settings(batch_size=batch)),
            sessions=sessions,
            receipts=ReceiptStore(sessions=sessions, clock=utcnow),
            channel=EmailChannel(),
            clock=utcnow,
        )
        processed = errors = 0
        samples: list[tuple[float, int]] = []
        stop = threading.Event()

        def run_pipeline() -> None:
            # As the service's worker: a failed step (database restarted) is tried again.
            nonlocal processed, errors
            while not stop.is_set():
                try:
                    n = worker.process_due()
                except Exception:  # noqa: BLE001
                    errors += 1
                    time.sleep(1)
                    continue
                processed += n
                samples.append((time.perf_counter(), processed))
                if n == 0:
                    time.sleep(0.02)

        start = time.perf_counter()
        poller.start()
        thread = threading.Thread(target=run_pipeline, daemon=True)
        if pipeline:
            thread.start()
        while poller.stored < total:
            if not poller.running:
                raise RuntimeError(f"the poller stopped: {poller.state}")
            time.sleep(0.005)
        stored_at = time.perf_counter() - start
        done_at = stored_at
        if pipeline:
            while processed < total:
                time.sleep(0.01)
            done_at = time.perf_counter() - start
            stop.set()
            thread.join()
        poller.stop()
        from sqlalchemy import func, select

        from storage.models import Inquiry, Message, Receipt

        with sessions() as session:
            counts = {
                "receipts": session.execute(select(func.count()).select_from(Receipt)).scalar_one(),
                "parked": session.execute(
                    select(func.count()).select_from(Receipt).where(Receipt.status == "parked")
                ).scalar_one(),
                "inquiries": session.execute(select(func.count()).select_from(Inquiry)).scalar_one(),
                "messages": session.execute(select(func.count()).select_from(Message)).scalar_one(),
            }
        engine.dispose()
        if errors or poller.connections > 1:
            print(
                f"  note: {errors} failed pipeline steps, {poller.connections} IMAP connections "
                "(database or server restarted?)"
            )
        tenth = max(total // 10, 1)

        def ms_per_message(lo: int, hi: int) -> float:
            t_lo = next(t for t, k in samples if k >= lo) if lo else start
            t_hi = next(t for t, k in samples if k >= hi)
            return (t_hi - t_lo) * 1e3 / max(hi - lo, 1)

        first = ms_per_message(0, tenth) if pipeline else 0.0
        last = ms_per_message(total - tenth, total) if pipeline else 0.0
        return {"stored_s": stored_at, "done_s": done_at, "first_ms": first, "last_ms": last, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200, help="messages per fetch and per transaction")
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server to make throwaway databases on; default SQLite"
    )
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    total, batch = args.messages, args.batch

    print(f"machine: {machine()}")
    server = Dovecot()
    server.start(pool=1)
    try:
        user = server.new_user()
        t0 = time.perf_counter()
        messages = build_mailbox(total)
        append_all(user, messages)
        size = sum(map(len, messages))
        print(
            f"mailbox: {total} messages, {size / total / 1024:.1f} KiB average, "
            f"{sum(1 for n in range(total) if n % 5 == 3)} with attachments, "
            f"APPENDed in {time.perf_counter() - t0:.0f} s"
        )

        base1, n1, read = plain_import(user, batch)
        assert n1 == total, n1
        kind = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
        with throwaway_database(args.database_url, "poller") as url:
            alone = ingest(user, url, total, batch, pipeline=False)
        with throwaway_database(args.database_url, "e2e") as url:
            e2e = ingest(user, url, total, batch, pipeline=True)
        base2, _, _ = plain_import(user, batch)
        base = (base1 + base2) / 2

        def rate(seconds: float) -> float:
            return total / seconds

        print(f"\n{total} messages, batches of {batch}, {kind}")
        print(
            "  baseline (imapclient + email.policy.default, every part read): "
            f"{rate(base1):7.0f} and {rate(base2):7.0f} messages/s "
            f"(first and last run; {read / 1e6:.1f} MB of decoded content)"
        )
        print(
            "  ImapPoller alone (durable receipts + position, flagged):      "
            f"{rate(alone['stored_s']):7.0f} messages/s   "
            f"ratio {base / alone['stored_s']:.2f}   (goal 0.5)"
        )
        print(
            "  poller while the pipeline runs beside it (receipts stored):   "
            f"{rate(e2e['stored_s']):7.0f} messages/s   "
            f"ratio {base / e2e['stored_s']:.2f}"
        )
        print(
            f"  end to end (every receipt an inquiry, pipeline included):     {rate(e2e['done_s']):7.0f} messages/s   "
            f"ratio {base / e2e['done_s']:.3f}"
        )
        print(
            f"  end to end: {e2e['receipts']} receipts, {e2e['inquiries']} inquiries, {e2e['messages']} messages, "
            f"{e2e['parked']} parked; {1e3 * (e2e['done_s']) / total:.2f} ms per message overall, "
            f"{e2e['first_ms']:.1f} ms over the first tenth and {e2e['last_ms']:.1f} ms over the last "
            "(every inquiry stays open here, and routing counts the open inquiries per employee)"
        )
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
