"""The IMAP receiver against a real Dovecot: backlog, crash safety, IDLE, bad login, UIDVALIDITY.

Nothing of imapclient is mocked: the service talks to a throwaway Dovecot on loopback, and the
staff notifications go to a real aiosmtpd relay.
"""

from __future__ import annotations

import re
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func
from sqlmodel import Session, select

from storage.models import Inquiry, MailboxState, Message, Receipt
from tests.dovecot import Dovecot, ImapUser
from tests.imap_helpers import append_all, client_message, flags_by_uid
from tests.smtp_helpers import client_mail, send
from tests.support import ROOT, free_port, running_service, wait_until

FLAG = b"$GkIngested"


def count(engine: Any, model: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def rows(engine: Any, model: Any) -> list[Any]:
    with Session(engine) as session:
        return list(session.exec(select(model)).all())


@pytest.fixture
def relay_settings(relay: Any) -> dict[str, Any]:
    return {"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"}


# --- (a) a backlog of varied messages -----------------------------------------------------------


@pytest.mark.slow  # a Dovecot backlog
def test_backlog_becomes_inquiries_flagged_not_seen(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    messages = [client_message(n, message_id=n % 7 != 4) for n in range(50)]
    append_all(imap_user, messages)
    settings = make_settings(imap=imap_user.settings(batch_size=20), outgoing_mail=relay_settings)
    with running_service(settings) as service:
        wait_until(lambda: count(service.engine, Inquiry) == 50, timeout=60, what="50 inquiries")
        wait_until(lambda: len(relay.staff()) == 50, timeout=60, what="50 staff notifications")
        assert count(service.engine, Receipt) == 50
        assert {r.source for r in rows(service.engine, Receipt)} == {"imap"}
        assert service.component_states()["imap"] == "running"
        (state,) = rows(service.engine, MailboxState)
        assert state.last_uid == 50 and state.mailbox == settings.imap.mailbox_key()
    flags = flags_by_uid(imap_user)
    assert len(flags) == 50
    assert all(FLAG in f for f in flags.values()), "every message carries the processed flag"
    assert not any(b"\\Seen" in f for f in flags.values()), "action flag never marks a message seen"
    subjects = sorted(str(m["Subject"]) for m in relay.staff())
    assert len(set(subjects)) == 50


# --- (b) kill -9 in the middle of a backlog of 1,000 ----------------------------------------------

INGEST = [sys.executable, "-m", "ingest.cli"]


def _serve_config(tmp_path: Path, database_url: str, user: ImapUser, **imap: Any) -> Path:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('data_dir = "var"', f'data_dir = "{tmp_path / "var"}"')
    text = text.replace("port = 8080", "port = 0").replace("port = 2525", "port = 0")
    text = text.replace('url = ""', f'url = "{database_url}"', 1)
    text = text.replace("poll_seconds = 5", "poll_seconds = 0.5", 1)
    # The example's own (disabled) [imap] section gives way to this test's.
    text = re.sub(r"(?ms)^\[imap\]\n.*?(?=^\[)", "", text)
    section = {**user.settings(), **imap}
    lines = ["", "[imap]"]
    for key, value in section.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f'{key} = "{value}"')
    path = tmp_path / "config.toml"
    path.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow  # kill -9 of a real process, twice, mid-backlog
def test_kill_9_mid_backlog_loses_and_doubles_nothing(tmp_path: Path, database_url: str, imap_user: ImapUser) -> None:
    total = 1000
    t0 = time.monotonic()
    append_all(imap_user, [client_message(n, message_id=n % 10 != 7) for n in range(total)])
    print(f"\nappended {total} messages in {time.monotonic() - t0:.1f} s")
    config = _serve_config(tmp_path, database_url, imap_user, batch_size=50)
    engine = create_engine(database_url)
    logs = [tmp_path / "serve-1.log", tmp_path / "serve-2.log"]
    try:
        # First run: killed with SIGKILL once some, not all, receipts are committed.
        with logs[0].open("w") as log:
            proc = subprocess.Popen([*INGEST, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            started = time.monotonic()

            def some_stored() -> int:
                if proc.poll() is not None:
                    raise AssertionError(f"the service exited: {logs[0].read_text()[-2000:]}")
                try:
                    return count(engine, Receipt)
                except Exception:  # noqa: BLE001 - tables not created yet
                    return 0

            first = wait_until(lambda: some_stored() > 0, timeout=60, interval=0.01, what="first receipts")
            del first
            before_kill = count(engine, Receipt)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            killed_after = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
        at_kill = count(engine, Receipt)
        print(
            f"killed after {killed_after:.1f} s with {at_kill} receipts stored ({before_kill} seen before the signal)"
        )
        assert 0 < at_kill < total, "the kill must land in the middle of the backlog"

        # Second run: finishes the backlog.
        with logs[1].open("w") as log:
            proc = subprocess.Popen([*INGEST, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            restarted = time.monotonic()
            wait_until(lambda: count(engine, Receipt) == total, timeout=180, interval=0.1, what="all receipts")
            stored_in = time.monotonic() - restarted
            wait_until(lambda: count(engine, Inquiry) == total, timeout=420, interval=0.2, what="all inquiries")
            done_in = time.monotonic() - restarted

            def all_flagged() -> bool:
                flags = flags_by_uid(imap_user)
                return len(flags) == total and all(FLAG in f for f in flags.values())

            wait_until(all_flagged, timeout=30, interval=0.5, what="every message flagged")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        receipts, inquiries, messages = count(engine, Receipt), count(engine, Inquiry), count(engine, Message)
        with Session(engine) as session:
            distinct = session.exec(select(func.count(func.distinct(Message.external_id)))).one()
            unprocessed = session.exec(
                select(func.count()).select_from(Receipt).where(Receipt.status != "processed")
            ).one()
        rest = total - at_kill
        with Session(engine) as session:
            stamps = sorted({r for r in session.exec(select(Receipt.received_at).where(Receipt.id > at_kill)).all()})
            first_batch = session.exec(
                select(func.count()).select_from(Receipt).where(Receipt.received_at == stamps[0])
            ).one()
        span = (stamps[-1] - stamps[0]).total_seconds()
        print(
            f"IMAP ingestion after restart (batches of 50, pipeline running alongside): {rest - first_batch} receipts "
            f"in {span:.2f} s between the first and last batch commit = {(rest - first_batch) / span:.0f} messages/s"
        )
        print(
            f"after restart: {receipts} receipts, {inquiries} inquiries, {messages} messages ({distinct} distinct); "
            f"the remaining {rest} stored in {stored_in:.1f} s ({rest / stored_in:.0f} messages/s), "
            f"all {total} inquiries after {done_in:.1f} s"
        )
        assert receipts == total and inquiries == total and messages == total and distinct == total
        assert unprocessed == 0
    finally:
        engine.dispose()
    second = logs[1].read_text()
    assert re.search(r"imap: \d+/\d+", second), "backlog progress is logged"
    for text in (logs[0].read_text(), second):
        assert "@client" not in text and imap_user.username not in text, "no addresses or user names in the log"
    assert "Traceback" not in second


# --- (c) IDLE: a new message is noticed at once ------------------------------------------------------


@pytest.mark.slow  # several rounds of IDLE
def test_idle_notices_new_mail_at_once(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    settings = make_settings(imap=imap_user.settings(poll_seconds=300), outgoing_mail=relay_settings)
    with running_service(settings) as service:
        poller = service.imap_poller
        wait_until(lambda: poller.connections == 1 and poller.state == "running", what="the poller connected")
        time.sleep(1.0)  # well into IDLE
        start = time.monotonic()
        append_all(imap_user, [client_message(1)])
        wait_until(lambda: relay.staff(), timeout=30, interval=0.005, what="the staff notification")
        latency = time.monotonic() - start
        print(f"\nIDLE: APPEND to staff notification at the relay in {latency:.3f} s")
        assert poller.stored == 1


def test_polling_without_idle(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    settings = make_settings(imap=imap_user.settings(poll_seconds=0.5), outgoing_mail=relay_settings)
    from ingest.service import Service

    original = Service.__init__

    def no_idle(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.imap_poller.use_idle = False

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Service, "__init__", no_idle)
        with running_service(settings) as service:
            wait_until(lambda: service.imap_poller.connections == 1, what="the poller connected")
            append_all(imap_user, [client_message(2), client_message(3)])
            wait_until(lambda: len(relay.staff()) == 2, timeout=30, what="two staff notifications")


# --- (d) a refused login stops only the IMAP receiver -----------------------------------------------


@pytest.mark.slow  # waits for the poller to give up
def test_bad_password_is_reported_and_smtp_still_works(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    settings = make_settings(imap=imap_user.settings(password="not-the-password"), outgoing_mail=relay_settings)
    with running_service(settings) as service:
        wait_until(lambda: service.imap_poller.state.startswith("stopped"), what="the poller to give up")

        def health() -> dict[str, Any]:
            return httpx.get(f"http://127.0.0.1:{service.http_port}/health", timeout=10).json()

        body = health()
        assert body["components"]["imap"] == "stopped: login refused"
        assert body["status"] == "degraded"
        assert body["components"]["smtp_listener"] == "listening"
        send(service.smtp_port, client_mail("Bedre uz ceļa", "Uz Rūpniecības ielas ir liela bedre."))
        wait_until(lambda: relay.staff(), timeout=30, what="the notification for the SMTP message")
        assert count(service.engine, Inquiry) == 1
        assert service.imap_poller.connections == 0


@pytest.mark.slow  # waits through reconnect backoff
def test_server_down_at_start_is_retried(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    # A port nobody listens on stands for a server that is down: retried, not given up.
    down = imap_user.settings(port=free_port(), reconnect_max_seconds=0.5)
    with running_service(make_settings(imap=down, outgoing_mail=relay_settings)) as service:
        wait_until(lambda: service.imap_poller.state.startswith("reconnecting"), what="reconnecting")
        time.sleep(1.5)
        assert service.imap_poller.state.startswith("reconnecting")
        assert service.component_states()["imap"].startswith("reconnecting: ConnectionRefusedError")


# --- (e) UIDVALIDITY changes -----------------------------------------------------------------------------


@pytest.mark.slow  # a Dovecot backlog, read twice
def test_uidvalidity_change_reads_again_without_doubling(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    folder = "Klienti"
    messages = [client_message(n, message_id=n % 3 != 0) for n in range(12)]
    append_all(imap_user, messages, folder)
    # Dovecot tells an idling session that its folder was replaced only at the next command: the
    # poller ends IDLE every idle_seconds, which is when it finds out.
    settings = make_settings(imap=imap_user.settings(folder=folder, idle_seconds=2), outgoing_mail=relay_settings)
    with running_service(settings) as service:
        wait_until(lambda: count(service.engine, Inquiry) == 12, timeout=60, what="12 inquiries")
        (before,) = rows(service.engine, MailboxState)

        # The folder is deleted and made again, and the same messages put back: new UIDVALIDITY.
        client = imap_user.client(folder=None)
        client.delete_folder(folder)
        client.create_folder(folder)
        client.logout()
        append_all(imap_user, messages, folder)

        def reread() -> bool:
            (state,) = rows(service.engine, MailboxState)
            return state.uidvalidity != before.uidvalidity and state.last_uid == 12

        wait_until(reread, timeout=60, what="the folder read again under its new UIDVALIDITY")
        flags = wait_until(
            lambda: (f := flags_by_uid(imap_user, folder)) and all(FLAG in v for v in f.values()) and f,
            timeout=30,
            what="re-appended messages flagged",
        )
        assert len(flags) == 12
        time.sleep(0.5)
        assert count(service.engine, Receipt) == 12
        assert count(service.engine, Inquiry) == 12
        assert count(service.engine, Message) == 12
        assert service.imap_poller.duplicates == 12
        assert len(relay.staff()) == 12


# --- (f) the same message over SMTP and IMAP ----------------------------------------------------------


def test_same_message_over_smtp_and_imap_is_one_inquiry(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    first, second = client_message(101), client_message(102)
    settings = make_settings(imap=imap_user.settings(), outgoing_mail=relay_settings)
    with running_service(settings) as service:
        wait_until(lambda: service.imap_poller.state == "running", what="the poller connected")
        # One arrives over SMTP first, then in the mailbox; the other the other way round.
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            smtp.sendmail("client101@client16.example", ["klienti@example.lv"], first)
        append_all(imap_user, [first, second])
        wait_until(
            lambda: len(flags_by_uid(imap_user)) == 2 and all(FLAG in f for f in flags_by_uid(imap_user).values()),
            timeout=30,
            what="both messages taken from the mailbox",
        )
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            smtp.sendmail("client102@client0.example", ["klienti@example.lv"], second)
        wait_until(lambda: len(relay.staff()) == 2, timeout=30, what="two staff notifications")
        wait_until(lambda: all(r.status == "processed" for r in rows(service.engine, Receipt)), what="processed")
        time.sleep(0.5)
        receipts = rows(service.engine, Receipt)
        assert len(receipts) == 2
        assert sorted(r.source for r in receipts) == ["imap", "smtp"]
        assert count(service.engine, Inquiry) == 2
        assert count(service.engine, Message) == 2
        assert len(relay.staff()) == 2
        assert service.imap_poller.duplicates == 1


# --- (g) the other processed actions ----------------------------------------------------------------


def test_processed_action_seen(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    append_all(imap_user, [client_message(n) for n in range(5)])
    settings = make_settings(imap=imap_user.settings(processed_action="seen"), outgoing_mail=relay_settings)
    with running_service(settings) as service:
        wait_until(lambda: count(service.engine, Inquiry) == 5, timeout=30, what="5 inquiries")
        wait_until(lambda: all(b"\\Seen" in f for f in flags_by_uid(imap_user).values()), what="all seen")
    flags = flags_by_uid(imap_user)
    assert len(flags) == 5 and not any(FLAG in f for f in flags.values())


@pytest.mark.slow  # a Dovecot folder move per message
def test_processed_action_move(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    append_all(imap_user, [client_message(n) for n in range(5)])
    imap = imap_user.settings(processed_action="move", move_to="Apstrādāti")
    settings = make_settings(imap=imap, outgoing_mail=relay_settings)
    with running_service(settings) as service:
        wait_until(lambda: count(service.engine, Inquiry) == 5, timeout=30, what="5 inquiries")
        wait_until(lambda: not flags_by_uid(imap_user), what="the inbox emptied")
        append_all(imap_user, [client_message(9)])  # and one more while it idles
        wait_until(lambda: count(service.engine, Inquiry) == 6, timeout=30, what="6 inquiries")
        wait_until(lambda: len(flags_by_uid(imap_user, "Apstrādāti")) == 6, what="six moved")
    assert not flags_by_uid(imap_user)
    moved = flags_by_uid(imap_user, "Apstrādāti")
    assert not any(b"\\Seen" in f or b"\\Deleted" in f for f in moved.values())


# --- (h) committed but not marked: finished at the next connection -------------------------------


def test_stored_but_unmarked_messages_are_marked_at_reconnect(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    append_all(imap_user, [client_message(n) for n in range(10)])
    settings = make_settings(imap=imap_user.settings(), outgoing_mail=relay_settings)
    with running_service(settings) as service:
        wait_until(lambda: count(service.engine, Receipt) == 10, timeout=30, what="10 receipts")
        wait_until(lambda: all(FLAG in f for f in flags_by_uid(imap_user).values()), what="all flagged")
    # As if the process had died after the commit and before the marking of uids 3-7.
    client = imap_user.client()
    client.remove_flags([3, 4, 5, 6, 7], [FLAG])
    client.logout()
    assert sum(FLAG not in f for f in flags_by_uid(imap_user).values()) == 5
    with running_service(settings) as service:
        wait_until(lambda: all(FLAG in f for f in flags_by_uid(imap_user).values()), what="all flagged again")
        assert service.imap_poller.stored == 0 and service.imap_poller.duplicates == 0, "nothing fetched again"
        assert count(service.engine, Receipt) == 10
        # The first service may have stopped before it processed them all: this one does the rest.
        wait_until(lambda: count(service.engine, Inquiry) == 10, timeout=30, what="10 inquiries")


def test_imap_settings_are_validated(make_settings: Any) -> None:
    from ingest.config import ConfigError

    base = {"enabled": True, "host": "127.0.0.1", "port": 143, "username": "u", "password": "p"}
    with pytest.raises(ConfigError, match="allow_plaintext"):
        make_settings(imap={**base, "security": "none"})
    with pytest.raises(ConfigError, match="move_to"):
        make_settings(imap={**base, "processed_action": "move"})
    with pytest.raises(ConfigError, match="host"):
        make_settings(imap={**base, "host": ""})
    ok = make_settings(imap={**base, "security": "none", "allow_plaintext": True, "folder": "Klienti"})
    assert ok.imap.mailbox_key() == "u@127.0.0.1:143/Klienti"
    assert make_settings().imap.enabled is False


@pytest.mark.slow  # restarts Dovecot
def test_server_restart_is_survived(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser, dovecot: Dovecot
) -> None:
    settings = make_settings(imap=imap_user.settings(), outgoing_mail=relay_settings)
    with running_service(settings) as service:
        poller = service.imap_poller
        wait_until(lambda: poller.connections == 1 and poller.state == "running", what="connected")
        dovecot.restart()
        append_all(imap_user, [client_message(7)])
        wait_until(lambda: relay.staff(), timeout=30, what="the message after the restart")
        assert poller.connections >= 2 and poller.state == "running"
        assert count(service.engine, Inquiry) == 1


def test_missing_folder_is_waited_for(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], imap_user: ImapUser
) -> None:
    settings = make_settings(
        imap=imap_user.settings(folder="Vēl nav", reconnect_max_seconds=0.5), outgoing_mail=relay_settings
    )
    with running_service(settings) as service:
        wait_until(
            lambda: service.imap_poller.state == "reconnecting: the folder cannot be opened (does it exist?)",
            what="the missing folder reported",
        )
        append_all(imap_user, [client_message(3)], "Vēl nav")  # creates it
        wait_until(lambda: relay.staff(), timeout=30, what="the message from the new folder")
        assert service.imap_poller.state == "running"


# --- TLS and STARTTLS, with the certificate checked ----------------------------------------------


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls(
    make_settings: Any, relay: Any, relay_settings: dict[str, Any], dovecot_tls: Dovecot, security: str
) -> None:
    user = dovecot_tls.new_user()
    append_all(user, [client_message(n) for n in range(3)])
    port = dovecot_tls.tls_port if security == "tls" else dovecot_tls.port
    imap = user.settings(security=security, port=port, allow_plaintext=False, tls_ca_file=str(dovecot_tls.ca_file))
    with running_service(make_settings(imap=imap, outgoing_mail=relay_settings)) as service:
        wait_until(lambda: len(relay.staff()) == 3, timeout=30, what="three notifications")
        assert service.component_states()["imap"] == "running"


def test_untrusted_certificate_is_not_accepted(
    make_settings: Any, relay_settings: dict[str, Any], dovecot_tls: Dovecot
) -> None:
    user = dovecot_tls.new_user()
    imap = user.settings(security="tls", port=dovecot_tls.tls_port, allow_plaintext=False, reconnect_max_seconds=0.5)
    with running_service(make_settings(imap=imap, outgoing_mail=relay_settings)) as service:
        wait_until(lambda: "SSLCertVerificationError" in service.imap_poller.state, what="the certificate refused")
        assert service.imap_poller.connections == 0
