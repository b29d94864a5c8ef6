"""Growth: does ingestion and the deadline sweep cost the same with 1,000 and 1,000,000 inquiries stored?

Run: .venv/bin/python bench/bench_growth.py [--small 1000] [--large 1000000] [--messages 500]
                                            [--database-url postgresql+psycopg://root@127.0.0.1:5432/postgres]

For each size a fresh database (SQLite in a temp dir, WAL + synchronous=FULL as the service runs
it; or a throwaway database on the PostgreSQL server of --database-url) is migrated and filled
directly in SQL (executemany on SQLite, COPY on PostgreSQL) with the shapes the service writes:

- contacts (0.6 per inquiry: clients come back), inquiries over the past years, of which a fixed
  500 are open (the office's live work does not grow with history) and the rest answered or closed;
- one inbound message per inquiry plus a follow-up on every third, each with its raw receipt (raw
  bytes emptied, as retention does after 90 days, except the newest 2,000);
- two outgoing rows per inquiry (staff notification, client acknowledgement), sent;
- events (received, routed, two queued, answered), deadline alarms: 4 pending per open inquiry
  (100 of them due now), one fired on every other answered inquiry.

Then, the same work on both: M new e-mails (88% from new clients, 8% from known clients, 4%
replies that refer to a stored message by In-Reply-To) stored one per commit as the SMTP
listener does, then turned into inquiries by Pipeline.process_due; the deadline sweep firing
the 100 due alarms; and the idle sweep (nothing due, run every minute). Printed: cost per message
(store, pipeline) and per sweep for both sizes, and the ratio large/small (flat is about 1).

Every SELECT, UPDATE and DELETE the pipeline and the sweep ran on the large database is then
EXPLAINed (SQLite EXPLAIN QUERY PLAN, PostgreSQL EXPLAIN) and those that scan a whole table are
printed with their plans.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text  # noqa: E402

from bench._common import bench_settings, exit_cleanly_on_sigterm, machine, mixed_message, throwaway_database  # noqa: E402
from channels.email import EmailChannel  # noqa: E402
from ingest.assembly import build_pipeline, sync_employees  # noqa: E402
from ingest.inquiries.scheduled import DeadlineKeeper  # noqa: E402
from ingest.intake.receipts import ReceiptStore  # noqa: E402
from storage.db import make_engine, migrate, session_factory  # noqa: E402
from storage.types import utcnow  # noqa: E402

OPEN = 500
DUE_NOW = 100
STATUSES_CLOSED = ("answered", "answered", "answered", "closed")
TOPICS = ("atkritumi", "siltums", "celi", "nami", "rekini", None)
KINDS = ("request", "question", "complaint", "suggestion", "request", "request")


def email_of(contact: int) -> str:
    return f"c{contact}@client{contact % 97}.example"


def mid_of(inquiry: int, k: int = 0) -> str:
    return f"mid:g{inquiry}.{k}@client{inquiry % 97}.example"


# --- bulk fill ------------------------------------------------------------------------------------


class Writer:
    """Bulk insert into one table: sqlite3 executemany or psycopg COPY, bypassing the ORM."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"

    def _value(self, v: Any) -> Any:
        if isinstance(v, (dict, list)):
            return json.dumps(v, ensure_ascii=False)
        if not self.pg and isinstance(v, datetime):
            return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        return v

    def write(self, table: str, columns: tuple[str, ...], rows: Any, chunk: int = 50_000) -> int:
        raw = self.engine.raw_connection()
        count = 0
        try:
            cur = raw.cursor()
            if self.pg:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([self._value(v) for v in row])
                        count += 1
            else:
                cur.execute("PRAGMA synchronous=OFF")  # bench data: no fsync while filling
                cur.execute("BEGIN")  # the service's connections autocommit unless told
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                batch: list[tuple[Any, ...]] = []
                for row in rows:
                    batch.append(tuple(self._value(v) for v in row))
                    if len(batch) >= chunk:
                        cur.executemany(sql, batch)
                        count += len(batch)
                        batch = []
                if batch:
                    cur.executemany(sql, batch)
                    count += len(batch)
                cur.execute("COMMIT")
                cur.execute("PRAGMA synchronous=FULL")
            raw.commit()
        finally:
            raw.close()
        return count


def fill(engine: Any, n: int, now: datetime, employee_ids: list[int]) -> dict[str, int]:
    w = Writer(engine)
    contacts = max(n * 6 // 10, 1)
    first_open = n - min(OPEN, n)
    span = timedelta(days=365 * 8)  # history spread over eight years
    received = [now - span * (1 - i / n) - timedelta(hours=2) for i in range(n)]
    counts: dict[str, int] = {}

    def contact_of(i: int) -> int:
        return (i * 7919) % contacts + 1

    counts["contact"] = w.write(
        "contact",
        ("id", "kind", "name", "email", "phone", "preferred_language", "created_at"),
        (
            (c, "person", f"Klients {c}", email_of(c), f"+3712{c:07d}" if c % 5 == 0 else None, "lv", now - span)
            for c in range(1, contacts + 1)
        ),
    )

    def inquiries() -> Any:
        for i in range(n):
            is_open = i >= first_open
            due = received[i] + timedelta(days=1 + i % 2) if not is_open else now + timedelta(days=1 + i % 3)
            answered = None if is_open else received[i] + timedelta(hours=5 + i % 20)
            yield (
                i + 1,
                f"GK-2025-{i + 1:07d}",
                f"{i:024x}",
                contact_of(i),
                "email" if i % 7 else "sms",
                KINDS[i % len(KINDS)],
                TOPICS[i % len(TOPICS)],
                "simple" if i % 3 else "complex",
                "lv",
                f"Pieprasījums {i}",
                "open" if is_open else STATUSES_CLOSED[i % 4],
                employee_ids[i % len(employee_ids)],
                received[i],
                due,
                answered,
                answered,
                received[i],
                answered or received[i],
            )

    counts["inquiry"] = w.write(
        "inquiry",
        (
            "id",
            "reference",
            "token",
            "contact_id",
            "channel",
            "kind",
            "topic",
            "complexity",
            "language",
            "subject",
            "status",
            "employee_id",
            "received_at",
            "due_at",
            "first_response_at",
            "answered_at",
            "created_at",
            "updated_at",
        ),
        inquiries(),
    )

    # Messages and their receipts: one per inquiry, a follow-up on every third.
    msgs: list[tuple[int, int, int]] = [(i, 0, 0) for i in range(n)] + [(i, 1, 0) for i in range(0, n, 3)]
    msgs.sort()
    recent = max(len(msgs) - 2000, 0)
    body = mixed_message(1)

    def receipts() -> Any:
        for m, (i, k, _) in enumerate(msgs):
            ext = mid_of(i, k) if i % 7 else f"sms:SM{i:030x}{k}"
            yield (
                m + 1,
                "email" if i % 7 else "sms",
                "smtp" if i % 7 else "twilio-webhook",
                ext,
                body if m >= recent else b"",
                {"received_at": received[i].isoformat()},
                "processed",
                0,
                received[i] + timedelta(minutes=k),
                received[i] + timedelta(minutes=k, seconds=1),
                m + 1,
            )

    counts["receipt"] = w.write(
        "receipt",
        (
            "id",
            "channel",
            "source",
            "natural_id",
            "raw",
            "meta",
            "status",
            "attempts",
            "received_at",
            "processed_at",
            "message_id",
        ),
        receipts(),
    )

    def messages() -> Any:
        for m, (i, k, _) in enumerate(msgs):
            email = bool(i % 7)
            yield (
                m + 1,
                i + 1,
                "in",
                "email" if email else "sms",
                mid_of(i, k) if email else f"sms:SM{i:030x}{k}",
                email_of(contact_of(i)) if email else f"+3712{contact_of(i):07d}",
                f"Klients {contact_of(i)}",
                f"Pieprasījums {i}" if email else None,
                "Labdien! Netiek izvesti atkritumi no Brīvības ielas. Lūdzu, pārbaudiet grafiku. " * 3,
                received[i] + timedelta(minutes=k),
                m + 1,
                [mid_of(i, 0)] if k else [],
            )

    counts["message"] = w.write(
        "message",
        (
            "id",
            "inquiry_id",
            "direction",
            "channel",
            "external_id",
            "sender",
            "sender_name",
            "subject",
            "text",
            "received_at",
            "receipt_id",
            "refers_to",
        ),
        messages(),
    )

    def outbox() -> Any:
        for i in range(n):
            at = received[i] + timedelta(seconds=2)
            yield (
                "staff_notification",
                "email",
                f"staff{i % 8}@example.lv",
                i + 1,
                f"<s{i}@example.lv>",
                {"subject": f"[GK-2025-{i + 1:07d}] Jauns klienta pieprasījums"},
                "sent",
                1,
                at,
                at,
            )
            yield (
                "client_ack",
                "email",
                email_of(contact_of(i)),
                i + 1,
                f"<a{i}@example.lv>",
                {"subject": f"Jūsu pieprasījums GK-2025-{i + 1:07d}"},
                "sent",
                1,
                at,
                at,
            )

    counts["outbox"] = w.write(
        "outbox",
        (
            "kind",
            "channel",
            "recipient",
            "inquiry_id",
            "external_id",
            "payload",
            "status",
            "attempts",
            "created_at",
            "sent_at",
        ),
        outbox(),
    )

    def events() -> Any:
        for i in range(n):
            at = received[i]
            yield (i + 1, at, "received", "system", {"channel": "email"})
            yield (
                i + 1,
                at,
                "routed",
                "system",
                {"employee": "atkritumi-1", "rule": "topic", "facts": {"topic": "atkritumi"}},
            )
            yield (i + 1, at, "staff_notification_queued", "system", {"outbox_id": 2 * i + 1})
            yield (i + 1, at, "client_ack_queued", "system", {"outbox_id": 2 * i + 2})
            if i < first_open:
                yield (i + 1, at + timedelta(hours=5), "answered", "atkritumi-1", {"on_time": True})

    counts["event"] = w.write("event", ("inquiry_id", "at", "type", "actor", "data"), events())

    def alarms() -> Any:
        due_now = 0
        for i in range(n):
            if i >= first_open:
                for k, kind in enumerate(("share_left", "due_day", "overdue", "overdue_board")):
                    if k == 1 and due_now < DUE_NOW:
                        due_now += 1
                        yield (i + 1, kind, now - timedelta(minutes=1), None)
                    else:
                        yield (i + 1, kind, now + timedelta(days=1 + i % 3, hours=k), None)
            elif i % 2 == 0:
                yield (i + 1, "share_left", received[i] + timedelta(hours=4), received[i] + timedelta(hours=4))

    counts["deadline_alarm"] = w.write("deadline_alarm", ("inquiry_id", "kind", "fire_at", "fired_at"), alarms())
    if w.pg:
        with engine.connect() as conn:  # sequences past the explicit ids, and fresh statistics
            for table in ("contact", "inquiry", "receipt", "message"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
            conn.commit()
        raw = engine.raw_connection()
        raw.driver_connection.autocommit = True
        raw.cursor().execute("VACUUM ANALYZE")
        raw.close()
    return counts


# --- the measured work ----------------------------------------------------------------------------


class StatementLog:
    """Every statement the engine runs while ``on``, with its parameters."""

    def __init__(self, engine: Any) -> None:
        self.on = False
        self.seen: dict[str, Any] = {}
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if self.on and not executemany and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            self.seen.setdefault(statement, parameters)


def run(database_url: str, n: int, messages: int, explain: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gk-bench-growth-") as tmp:
        settings = bench_settings(database_url, Path(tmp))
        engine = make_engine(database_url, pool_size=5)
        migrate(engine)
        sessions = session_factory(engine)
        sync_employees(sessions, settings)
        with engine.connect() as conn:
            employee_ids = [r[0] for r in conn.execute(text("SELECT id FROM employee ORDER BY id"))]
        now = utcnow()
        t0 = time.perf_counter()
        counts = fill(engine, n, now, employee_ids)
        fill_s = time.perf_counter() - t0
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

        log = StatementLog(engine)
        channel = EmailChannel(own_addresses=frozenset({"klienti@example.lv"}))
        store = ReceiptStore(sessions=sessions, clock=utcnow)
        pipeline = build_pipeline(settings, sessions, utcnow)
        rng = random.Random(42)
        raws = []
        for k in range(messages):
            if k % 25 == 5:  # a known client writes again
                raws.append(mixed_message(50_000_000 + k, sender=email_of(rng.randrange(1, max(n * 6 // 10, 1)))))
            elif k % 25 == 10:  # a reply referring to a stored message
                raws.append(
                    mixed_message(
                        50_000_000 + k,
                        reply_to="<" + mid_of(rng.randrange(0, max(n - 8, 1)) // 7 * 7 + 1).removeprefix("mid:") + ">",
                    )
                )
            else:
                raws.append(mixed_message(50_000_000 + k))
        # Warm up (lemma caches, the ORM's statement cache) on a few messages not counted.
        for raw in raws[:10]:
            store.store_sync(
                channel,
                source="smtp",
                raw=raw,
                meta={"envelope_from": "x@y.example", "envelope_to": ["klienti@example.lv"]},
            )
        while pipeline.process_due():
            pass

        log.on = explain
        t0 = time.perf_counter()
        for raw in raws[10:]:
            store.store_sync(
                channel,
                source="smtp",
                raw=raw,
                meta={"envelope_from": "x@y.example", "envelope_to": ["klienti@example.lv"]},
            )
        store_s = (time.perf_counter() - t0) / (messages - 10)
        t0 = time.perf_counter()
        processed = 0
        while k := pipeline.process_due():
            processed += k
        pipe_s = (time.perf_counter() - t0) / max(processed, 1)

        keeper = DeadlineKeeper(
            sessions=sessions,
            notices=pipeline.notices,
            calendar=pipeline.router.calendar,
            clock=utcnow,
            fallback_employee=settings.routing.fallback_employee,
            board_member=settings.routing.board_member,
        )
        t0 = time.perf_counter()
        fired = keeper._fire_due_alarms()
        fire_s = (time.perf_counter() - t0) / max(fired, 1)
        keeper.sweep()  # today's digests, once
        idle = []
        for _ in range(15):
            t0 = time.perf_counter()
            keeper.sweep()
            idle.append(time.perf_counter() - t0)
        log.on = False
        result = {
            "n": n,
            "counts": counts,
            "fill_s": fill_s,
            "store_s": store_s,
            "pipe_s": pipe_s,
            "processed": processed,
            "fire_s": fire_s,
            "fired": fired,
            "idle_s": statistics.median(idle),
            "plans": [],
        }
        if explain:
            result["plans"] = full_scans(engine, log.seen)
        engine.dispose()
        return result


def full_scans(engine: Any, statements: dict[str, Any]) -> list[tuple[str, str]]:
    """(statement, plan) of each logged statement whose plan reads a whole table."""
    found = []
    pg = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, params in statements.items():
            try:
                cur.execute(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + statement, params)
                rows = cur.fetchall()
            except Exception as exc:  # noqa: BLE001 - a statement that cannot be explained alone
                raw.rollback()
                found.append((statement, f"(not explained: {type(exc).__name__})"))
                continue
            plan = "\n".join(str(r[0]) if pg else str(r[-1]) for r in rows)
            if pg:
                scans = [
                    line
                    for line in plan.splitlines()
                    if "Seq Scan" in line
                    and "employee" not in line
                    and "counter" not in line
                    and "absence" not in line
                    and "mailbox_state" not in line
                ]
            else:
                scans = [
                    line
                    for line in plan.splitlines()
                    if line.startswith("SCAN")
                    and not any(t in line for t in ("employee", "counter", "absence", "CONSTANT ROW"))
                ]
            if scans:
                found.append((statement, plan))
        raw.rollback()
    finally:
        raw.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server to make throwaway databases on; default SQLite"
    )
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    kind = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    print(f"machine: {machine()}")
    print(f"{kind}; {args.messages} new e-mails on {args.small:,} and {args.large:,} stored inquiries", flush=True)
    results = []
    for n in (args.small, args.large):
        with throwaway_database(args.database_url, f"growth{n}") as url:
            r = run(url, n, args.messages, explain=(n == args.large))
        counts = ", ".join(f"{k} {v:,}" for k, v in r["counts"].items())
        print(f"  {n:>9,} inquiries: filled in {r['fill_s']:.0f} s ({counts})", flush=True)
        results.append(r)
    small, large = results
    rows = [
        ("store one receipt (one commit)", "store_s", 1e3, "ms"),
        ("pipeline, per message", "pipe_s", 1e3, "ms"),
        ("firing one due alarm", "fire_s", 1e3, "ms"),
        ("idle sweep (alarms + digests)", "idle_s", 1e3, "ms"),
    ]
    print(f"\n{'figure':<34} {args.small:>12,} {args.large:>12,}  ratio large/small")
    for label, key, scale, unit in rows:
        print(
            f"{label:<34} {small[key] * scale:9.2f} {unit} {large[key] * scale:9.2f} {unit}  "
            f"{large[key] / small[key]:6.2f}"
        )
    print(
        f"(processed {small['processed']} and {large['processed']} messages; "
        f"fired {small['fired']} and {large['fired']} alarms)"
    )
    if large["plans"]:
        print(f"\nStatements of the pipeline or the sweep that scan a whole table at {args.large:,} inquiries:")
        for statement, plan in large["plans"]:
            print("-" * 72)
            print(" ".join(statement.split()))
            print("  plan: " + plan.replace("\n", "\n        "))
    else:
        print("\nNo statement of the pipeline or the sweep scans a whole table.")


if __name__ == "__main__":
    main()
