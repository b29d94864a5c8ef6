"""Fault experiments (issue 7 item 2): a relay down, PostgreSQL restarted under load, a full disk.

Each experiment runs a real `ingest serve` process on loopback, clients that retry as real
senders do (an MTA on 4xx or no answer, Twilio on 5xx or no answer), and ends with one line of
counts printed (run with -s to see them): sent, stored, processed, notifications, duplicates,
parked.

Not covered here (already elsewhere): kill -9 during an IMAP backlog (test_imap.py), during a
webhook flood (test_webhook_crash.py), of one of two processes (test_multiprocess.py).

The PostgreSQL experiment restarts the machine's whole cluster (`pg_ctlcluster ... restart`):
every other connection to it breaks for a few seconds. Tests run in parallel against the same
cluster would see that; the CI run is sequential. The disk-full experiment mounts small tmpfs
file systems and so needs root (as in CI).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.fault_helpers import (
    ServiceProcess,
    base_env,
    client_mail,
    db_counts,
    delivered_counts,
    parse_mail,
    relay_env,
    smtp_once,
    smtp_until_accepted,
    summary,
    twilio_env,
    webhook_until_accepted,
)
from tests.support import PG_ADMIN_URL, STAFF_DOMAIN, Relay, throwaway_pg_database, wait_until
from tests.twilio_helpers import FakeMessagesApi, inbound_fields

# The fault experiments: real processes, an outage, a restarted database, a full disk.
pytestmark = pytest.mark.slow


def backend(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@pytest.fixture
def twilio_api() -> Iterator[FakeMessagesApi]:
    with FakeMessagesApi() as api:
        yield api


@pytest.fixture
def services() -> Iterator[list[ServiceProcess]]:
    """Service processes a test starts; stopped (and their log tails shown on failure) at the end."""
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        if service.alive():
            service.stop()


def show_logs(services: list[ServiceProcess]) -> None:
    for service in services:
        print(f"--- {service.name}.log (tail) ---\n{service.tail()}")


def sms_sender(n: int) -> str:
    return f"+3712{n:07d}"


# --- 1. the SMTP relay down for a while ---------------------------------------------------------

N_MAIL = 8
N_SMS = 8


def test_relay_down_for_a_while_every_notification_once(
    database_url: str, tmp_path: Path, relay: Relay, twilio_api: FakeMessagesApi, services: list[ServiceProcess]
) -> None:
    """Mail and webhooks come in while the relay is down; notifications back off; all go out once.

    tests/test_smtp_to_notification.py::test_notifications_wait_while_relay_is_down_and_all_arrive_once
    shows the same on an in-process service with SMTP only; here: a real process, SMTP and
    webhooks, counts at the relay by Message-ID and by inquiry reference, and `ingest doctor`.
    """
    relay.stop()
    service = ServiceProcess(tmp_path, base_env(database_url, **relay_env(relay.port), **twilio_env(twilio_api.url)))
    services.append(service)
    service.start()
    try:
        deadline = time.monotonic() + 60
        smtp_seen: Counter[str] = Counter()
        hook_seen: Counter[str] = Counter()
        for n in range(N_MAIL):
            raw, sender = client_mail(n, tag="relay-down")
            smtp_until_accepted(service.smtp_port, raw, sender, smtp_seen, deadline=deadline)
        for n in range(N_SMS):
            fields = inbound_fields(f"SM{n:032x}", sender=sms_sender(n), body=f"Ziņa {n}: nedeg ielas apgaismojums")
            webhook_until_accepted(service.base_url, fields, hook_seen, deadline=deadline)
        assert smtp_seen == {"250": N_MAIL} and hook_seen == {"200": N_SMS}
        total = N_MAIL + N_SMS

        def failed_several_times() -> bool:
            counts = db_counts(database_url)
            if counts.receipts.get("processed", 0) != total:
                return False
            return all(n >= 3 for n in _email_attempts(database_url))

        wait_until(failed_several_times, timeout=30, interval=0.3, what="every e-mail notification to fail 3 times")
        before = db_counts(database_url)
        attempts = _email_attempts(database_url)
        assert relay.messages == []
        assert before.open_outbox == sum(1 for _ in attempts)  # nothing given up, nothing "sent"
        # Temporary failures: each row waits for its next attempt (backoff 0.2 s doubling to 1 s here).
        errors = _email_errors(database_url)
        assert all("Connection refused" in e or "ConnectionRefused" in e for e in errors), errors[:3]
        assert all(r.next_attempt_at is not None for r in _email_rows(database_url) if r.status == "pending")

        relay.start()
        wait_until(lambda: db_counts(database_url).open_outbox == 0, timeout=30, interval=0.3, what="outbox drained")
        time.sleep(0.5)  # the relay records before the service records "sent": let a last one land
        after = db_counts(database_url)
        staff = [
            parse_mail(raw)
            for raw, (_, rcpts) in zip(relay.messages, relay.envelopes, strict=True)
            if any(r.endswith(STAFF_DOMAIN) for r in rcpts)
        ]
        by_id, by_ref = delivered_counts([parse_mail(raw) for raw in relay.messages])
        staff_by_id, staff_by_ref = delivered_counts(staff)
        duplicates = sum(n - 1 for n in by_id.values())
        sms_acks = Counter(r["form"]["To"] for r in twilio_api.requests)
        doctor = service.cli("doctor")
        summary(
            f"relay down [{backend(database_url)}]",
            sent=f"{N_MAIL} smtp + {N_SMS} webhooks",
            stored=sum(after.receipts.values()),
            processed=after.receipts.get("processed", 0),
            failed_attempts_before_relay_back=f"{min(attempts)}..{max(attempts)} per row",
            notifications=f"{len(staff)} staff + {len(relay.messages) - len(staff)} client mails "
            f"+ {len(twilio_api.requests)} sms",
            duplicates=duplicates,
            parked=after.parked,
            doctor=doctor.returncode,
        )
        assert after.receipts == {"processed": total} and set(after.receipt_ids.values()) == {1}
        assert after.messages == total and after.inquiries == total
        # Exactly once at the relay: every outbox message, by Message-ID, and nothing else.
        assert duplicates == 0, by_id
        assert set(by_id) == set(after.outbox_message_ids)
        # Exactly one staff notification per inquiry, by reference.
        assert staff_by_ref == Counter({ref: 1 for ref in after.references}), staff_by_ref
        assert len(staff_by_id) == total
        # Each e-mail client one acknowledgement by mail, each SMS client one by SMS.
        assert len(relay.messages) - len(staff) == N_MAIL
        assert sms_acks == Counter({sms_sender(n): 1 for n in range(N_SMS)})
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "nothing parked, nothing failed" in doctor.stdout
        assert service.stop() == 0
    except BaseException:
        show_logs(services)
        raise


def _email_rows(url: str) -> list[Any]:
    from sqlmodel import Session, col, select

    from storage.models import Outbox

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(Outbox).where(col(Outbox.channel) == "email")).all())
    finally:
        engine.dispose()


def _email_attempts(url: str) -> list[int]:
    return [row.attempts for row in _email_rows(url)]


def _email_errors(url: str) -> list[str]:
    return [row.last_error or "" for row in _email_rows(url)]


# --- 2. PostgreSQL restarted under load ----------------------------------------------------------

N_STREAM = 60  # per sender: SMTP and webhooks
STREAM_GAP = 0.05


def pg_cluster() -> tuple[str, str]:
    """(version, name) of the local cluster serving the test's PostgreSQL port; fails if there is none."""
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        pytest.fail(
            "this experiment restarts PostgreSQL with pg_ctlcluster (postgresql-common), which is not installed; "
            ".ci/run starts PostgreSQL that way, so it exists in CI"
        )
    port = make_url(PG_ADMIN_URL).port or 5432
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == str(port) and fields[3] == "online":
            return fields[0], fields[1]
    pytest.fail(f"no online PostgreSQL cluster on port {port} in pg_lsclusters:\n{out}")


OUTAGE_SECONDS = 3.0


def restart_cluster(version: str, name: str, *, down_for: float = OUTAGE_SECONDS) -> float:
    """Restart the cluster: stop (fast mode: every session is cut), stay down a moment, start.

    `pg_ctlcluster restart` alone is down for well under a second here, short enough that a
    stream may slip past it; the pause makes sure the senders meet the outage. The cluster is
    started again whatever happens. Returns the seconds it was unavailable (stop to started).
    """

    def ctl(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action],
            capture_output=True,
            text=True,
            timeout=120,
        )

    started = time.monotonic()
    stopped = ctl("stop")
    try:
        if stopped.returncode != 0:
            pytest.fail(f"pg_ctlcluster stop failed ({stopped.returncode}): {stopped.stdout}{stopped.stderr}")
        time.sleep(down_for)
    finally:
        for _ in range(3):
            if (up := ctl("start")).returncode == 0 or "already running" in up.stdout + up.stderr:
                break
            time.sleep(1)
        else:
            pytest.fail(f"pg_ctlcluster start failed ({up.returncode}): {up.stdout}{up.stderr}")
    return time.monotonic() - started


@pytest.fixture
def own_pg_database() -> Iterator[str]:
    """A database of this test's own (not the session one), dropped at the end even after a restart."""
    with throwaway_pg_database("ingest_faults", drop_tries=60) as url:
        yield url


def test_postgresql_restarted_under_load(
    own_pg_database: str, tmp_path: Path, relay: Relay, twilio_api: FakeMessagesApi, services: list[ServiceProcess]
) -> None:
    url = own_pg_database
    version, cluster = pg_cluster()
    watching = threading.Event()  # set: the /health watcher stops
    service = ServiceProcess(tmp_path, base_env(url, **relay_env(relay.port), **twilio_env(twilio_api.url)))
    services.append(service)
    service.start()
    try:
        wait_until(lambda: (h := service.health()) and h[1]["status"] == "ok", timeout=30, what="service healthy")
        deadline = time.monotonic() + 120
        smtp_seen: Counter[str] = Counter()
        hook_seen: Counter[str] = Counter()
        progress = {"smtp": 0, "hook": 0}
        errors: list[BaseException] = []

        def stream_smtp() -> None:
            try:
                for n in range(N_STREAM):
                    raw, sender = client_mail(n, tag="pg-restart", sender=f"pg{n}@client{n % 13}.example")
                    smtp_until_accepted(service.smtp_port, raw, sender, smtp_seen, deadline=deadline)
                    progress["smtp"] += 1
                    time.sleep(STREAM_GAP)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        def stream_hooks() -> None:
            try:
                for n in range(N_STREAM):
                    fields = inbound_fields(f"SM{n:032x}", sender=sms_sender(n), body=f"Ziņa {n}: nav ūdens")
                    webhook_until_accepted(service.base_url, fields, hook_seen, deadline=deadline)
                    progress["hook"] += 1
                    time.sleep(STREAM_GAP)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        health_seen: Counter[str] = Counter()

        def watch_health() -> None:
            while not watching.is_set():
                h = service.health()
                health_seen["no answer" if h is None else f"{h[0]} {h[1].get('database')}"] += 1
                time.sleep(0.2)

        # Daemons: a failing test never waits for them (the senders stop at their deadline anyway).
        threads = [
            threading.Thread(target=f, name=f.__name__, daemon=True) for f in (stream_smtp, stream_hooks, watch_health)
        ]
        for thread in threads:
            thread.start()
        wait_until(lambda: min(progress.values()) >= N_STREAM // 3 or errors, timeout=60, what="a third of the stream")
        at_restart = dict(progress)
        restart_seconds = restart_cluster(version, cluster)
        for thread in threads[:2]:
            thread.join(150)
            assert not thread.is_alive(), "a sender is still going after its deadline"
        assert not errors, errors
        total = 2 * N_STREAM

        def settled() -> bool:
            c = db_counts(url)
            return (
                c.receipts.get("processed", 0) == total
                and len(c.staff_rows_per_inquiry) == total
                and c.open_outbox == 0
            )

        wait_until(settled, timeout=60, interval=0.5, what="everything processed and sent")
        time.sleep(0.5)
        # The service recovers by itself: /health is ok again, no restart of the service.
        wait_until(
            lambda: (h := service.health()) and h[0] == 200 and h[1]["status"] == "ok",
            timeout=30,
            what="/health ok again",
        )
        watching.set()
        threads[2].join(10)
        # Anything parked for good during the outage is listed by `ingest doctor` and queued again
        # by `ingest retry --all` (with max_attempts 1000 here, parked ones retry by themselves).
        doctor = service.cli("doctor")
        retried = None
        if doctor.returncode != 0:
            print(f"ingest doctor after the restart:\n{doctor.stdout}")
            retried = service.cli("retry", "--all")
            print(retried.stdout)
            wait_until(settled, timeout=60, interval=0.5, what="everything processed after ingest retry")
            doctor = service.cli("doctor")
        counts = db_counts(url)
        staff = [
            parse_mail(raw)
            for raw, (_, rcpts) in zip(relay.messages, relay.envelopes, strict=True)
            if any(r.endswith(STAFF_DOMAIN) for r in rcpts)
        ]
        by_id, _ = delivered_counts([parse_mail(raw) for raw in relay.messages])
        staff_by_id, staff_by_ref = delivered_counts(staff)
        duplicates = {mid: n for mid, n in by_id.items() if n > 1}
        sms = Counter(r["form"]["To"] for r in twilio_api.requests)
        summary(
            "postgresql restart",
            sent=f"{N_STREAM} smtp + {N_STREAM} webhooks",
            restart_at=f"smtp {at_restart['smtp']}, webhooks {at_restart['hook']}",
            unavailable_seconds=f"{restart_seconds:.1f}",
            smtp_answers=dict(smtp_seen),
            webhook_answers=dict(hook_seen),
            health_seen=dict(health_seen),
            stored=sum(counts.receipts.values()),
            processed=counts.receipts.get("processed", 0),
            notifications=f"{len(staff)} staff mails ({len(staff_by_ref)} inquiries) + "
            f"{len(relay.messages) - len(staff)} client mails + {len(twilio_api.requests)} sms",
            duplicates=f"{sum(n - 1 for n in duplicates.values())} "
            f"{sorted(counts.outbox_message_ids.get(m, '?') for m in duplicates)}",
            parked=counts.parked,
            doctor=doctor.returncode,
            retry_needed=retried is not None,
        )
        # The restart hit the stream: someone was told to come back later.
        assert sum(n for k, n in (smtp_seen + hook_seen).items() if k not in ("250", "200")) > 0
        # Stored exactly once, processed once.
        assert counts.receipts == {"processed": total} and set(counts.receipt_ids.values()) == {1}
        assert counts.messages == total and counts.inquiries == total
        assert set(counts.staff_rows_per_inquiry.values()) == {1}
        # Every notification arrived; by reference, each inquiry's staff notification exactly once.
        assert set(by_id) == set(counts.outbox_message_ids)
        assert set(staff_by_ref) == counts.references
        # A relay hand-off whose "sent" cannot be recorded at once (the database went away just
        # then) is recorded when the database is back, not sent again: exactly once.
        assert duplicates == {}, duplicates
        # SMS acknowledgements through Twilio: one per client.
        assert len(sms) == N_STREAM and set(sms.values()) == {1}, sms
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert service.alive()
        assert service.stop() == 0
    except BaseException:
        watching.set()
        show_logs(services)
        raise


# --- 3. disk full -------------------------------------------------------------------------------

BIG = 1_000_000  # the attachment that does not fit while the disk is full
# Room, once the filler is gone, for the big message in the database and in the write-ahead log:
# processing it writes the raw receipt again (its row is updated) and the attachment, and the WAL
# grows to about 6 MB before a checkpoint lands (on 8 MB the disk fills up again right there).
TMPFS_SIZE = "16m"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a {TMPFS_SIZE} tmpfs at {mountpoint} to play a full disk (needs root, as in CI): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=30)
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=30)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave: int) -> Path:
    """A filler file taking all but about ``leave`` bytes of the file system at ``path``."""
    filler = path / "filler.bin"
    size = max(0, free_bytes(path) - leave)
    with filler.open("wb") as fh:
        chunk = b"\0" * 65536
        written = 0
        try:
            while written < size:
                fh.write(chunk[: min(len(chunk), size - written)])
                written += min(len(chunk), size - written)
            fh.flush()
        except OSError:
            pass  # full already: that is what we want
    return filler


def test_disk_full_for_the_sqlite_database(
    tmpfs: Path, tmp_path: Path, relay: Relay, services: list[ServiceProcess]
) -> None:
    """The SQLite database on a nearly full disk: a message that does not fit gets a 4xx, never 250."""
    url = f"sqlite:///{tmpfs / 'ingest.sqlite3'}"
    service = ServiceProcess(tmp_path, base_env(url, **relay_env(relay.port)))
    services.append(service)
    service.start()
    try:
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + 60
        raw, sender = client_mail(0, tag="disk-db")
        smtp_until_accepted(service.smtp_port, raw, sender, seen, deadline=deadline)
        wait_until(
            lambda: db_counts(url).open_outbox == 0 and db_counts(url).receipts.get("processed") == 1,
            timeout=30,
            what="the first message processed and notified",
        )

        filler = fill(tmpfs, leave=400 * 1024)
        big_raw, big_sender = client_mail(1, tag="disk-db", attachment=os.urandom(BIG))
        big_answers = [smtp_once(service.smtp_port, big_raw, big_sender) for _ in range(3)]
        small_answers = []
        for n in range(2, 6):
            small_raw, small_sender = client_mail(n, tag="disk-db")
            small_answers.append(smtp_once(service.smtp_port, small_raw, small_sender))
        health_full = service.health()
        assert service.alive(), "the service died on a full disk"
        while_full = db_counts(url)
        integrity = (
            sqlite3.connect(f"file:{tmpfs / 'ingest.sqlite3'}?mode=ro", uri=True)
            .execute("PRAGMA quick_check")
            .fetchone()[0]
        )

        filler.unlink()
        # The MTA retries what got a 4xx; now there is room.
        smtp_until_accepted(service.smtp_port, big_raw, big_sender, seen, deadline=time.monotonic() + 30)
        for n, answer in zip(range(2, 6), small_answers, strict=True):
            small_raw, small_sender = client_mail(n, tag="disk-db")
            if answer != "250":
                smtp_until_accepted(service.smtp_port, small_raw, small_sender, seen, deadline=time.monotonic() + 30)
        total = 6
        try:
            wait_until(
                lambda: (c := db_counts(url)).receipts.get("processed", 0) == total and c.open_outbox == 0,
                timeout=30,
                interval=0.3,
                what="everything processed and sent once space is back",
            )
        finally:
            files = {p.name.removeprefix("ingest.sqlite3") or "db": p.stat().st_size for p in tmpfs.iterdir()}
            print(f"files on the small disk: {files}, free {free_bytes(tmpfs)}")
        counts = db_counts(url)
        attachment_sizes = _attachment_sizes(url)
        by_id, by_ref = delivered_counts(relay.staff())
        doctor = service.cli("doctor")
        summary(
            "disk full, sqlite database",
            big_message_answers_while_full=big_answers,
            small_message_answers_while_full=small_answers,
            health_while_full=health_full and (health_full[0], health_full[1].get("database")),
            receipts_while_full=dict(while_full.receipts),
            quick_check_while_full=integrity,
            files_after=files,
            sent=total,
            stored=sum(counts.receipts.values()),
            processed=counts.receipts.get("processed", 0),
            notifications=len(relay.staff()),
            duplicates=sum(n - 1 for n in by_id.values()),
            parked=counts.parked,
            doctor=doctor.returncode,
        )
        assert all(a in ("451", "452") for a in big_answers), big_answers
        assert all(a == "250" or a in ("451", "452") for a in small_answers), small_answers
        assert integrity == "ok"
        # Nothing half-stored: while full, only what was acknowledged is there, and not the big one.
        accepted_while_full = sum(1 for a in small_answers if a == "250")
        assert sum(while_full.receipts.values()) == 1 + accepted_while_full
        assert "<disk-db-1@client.example>" not in str(while_full.receipt_ids)
        assert counts.receipts == {"processed": total} and set(counts.receipt_ids.values()) == {1}
        assert counts.messages == total
        assert BIG in attachment_sizes
        assert set(by_ref.values()) == {1} and len(by_ref) == total
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert service.stop() == 0
    except BaseException:
        show_logs(services)
        raise


def _attachment_sizes(url: str) -> list[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [int(n) for (n,) in conn.execute(text("SELECT length(data) FROM attachment WHERE data IS NOT NULL"))]
    finally:
        engine.dispose()


def test_disk_full_for_the_outgoing_mail_folder(tmpfs: Path, tmp_path: Path, services: list[ServiceProcess]) -> None:
    """No relay: mail goes to .eml files on a full disk; the outbox retries, and each goes out once."""
    url = f"sqlite:///{tmp_path / 'ingest.sqlite3'}"
    folder = tmpfs / "outgoing-mail"
    folder.mkdir()
    service = ServiceProcess(
        tmp_path, base_env(url, INGEST__OUTGOING_MAIL__RELAY_HOST="", INGEST__OUTGOING_MAIL__FOLDER=str(folder))
    )
    services.append(service)
    service.start()
    try:
        filler = fill(tmpfs, leave=0)
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + 60
        n_mail = 5
        for n in range(n_mail):
            raw, sender = client_mail(n, tag="disk-out")
            smtp_until_accepted(service.smtp_port, raw, sender, seen, deadline=deadline)
        rows = 2 * n_mail  # a staff notification and a client acknowledgement each

        def failing() -> bool:
            attempts = _email_attempts(url)
            return len(attempts) == rows and all(a >= 2 for a in attempts)

        wait_until(failing, timeout=30, interval=0.3, what="every outgoing message to fail twice")
        errors = _email_errors(url)
        leftovers_while_full = sorted(p.name for p in folder.iterdir())
        assert all("No space left on device" in e for e in errors), errors[:3]
        assert db_counts(url).open_outbox == rows

        filler.unlink()
        wait_until(lambda: db_counts(url).open_outbox == 0, timeout=30, interval=0.3, what="outbox drained")
        files = sorted(folder.iterdir())
        mails = [parse_mail(p.read_bytes()) for p in files if p.suffix == ".eml" and not p.name.startswith(".")]
        by_id, by_ref = delivered_counts(mails)
        counts = db_counts(url)
        doctor = service.cli("doctor")
        summary(
            "disk full, outgoing-mail folder",
            sent=n_mail,
            smtp_answers=dict(seen),
            stored=sum(counts.receipts.values()),
            processed=counts.receipts.get("processed", 0),
            failed_attempts_while_full=f"{min(_email_attempts(url))}..{max(_email_attempts(url))}",
            files_while_full=len(leftovers_while_full),
            notifications=f"{len(mails)} .eml files",
            duplicates=sum(n - 1 for n in by_id.values()),
            temp_files_left=sum(1 for p in files if p.name.startswith(".tmp-")),
            parked=counts.parked,
            doctor=doctor.returncode,
        )
        assert seen == {"250": n_mail}
        assert leftovers_while_full == [], "a failed write left a file behind"
        assert [p.name for p in files if p.name.startswith(".tmp-")] == []
        assert set(by_id) == set(counts.outbox_message_ids) and set(by_id.values()) == {1}
        assert len(by_ref) == n_mail and set(by_ref.values()) == {2}  # the notification and the ack
        assert counts.receipts == {"processed": n_mail}
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert service.stop() == 0
    except BaseException:
        show_logs(services)
        raise
