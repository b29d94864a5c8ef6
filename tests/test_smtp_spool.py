"""Large SMTP messages are spooled to disk while they arrive (issue 15, item 8), over real SMTP.

The listener keeps a message in memory up to ``[smtp_listener] spool_above_bytes`` and writes the
rest to a file under ``var/smtp-spool/``; the receipt is stored from that file. What is checked:
the stored bytes are exactly what the client meant (dot-unstuffed, every line ending as sent), the
natural id is the one the bytes give, the file is gone after the commit, after a failed commit and
after a client that went away mid-DATA, a commit still running when its client goes away keeps
its file until it is done, and ``max_message_bytes`` still answers 552.
"""

from __future__ import annotations

import base64
import hashlib
import os
import smtplib
import socket
import threading
import time
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from channels.base import natural_id_of
from channels.email import natural_id
from ingest.intake.spool import Spool
from storage import receipt_blobs
from storage.models import Receipt
from tests.smtp_helpers import CLIENT, PUBLIC
from tests.support import wait_until

CORPORA = Path(__file__).parent / "data" / "corpora"


class Client:
    """A plain SMTP client over a socket, so the bytes of DATA are exactly the test's."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.file = self.sock.makefile("rb")
        assert self.reply()[0] == 220

    def reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            line = self.file.readline()
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def command(self, line: str) -> int:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()[0]

    def begin(self) -> None:
        assert self.command("EHLO client.example") == 250
        assert self.command(f"MAIL FROM:<{CLIENT}>") == 250
        assert self.command(f"RCPT TO:<{PUBLIC}>") == 250
        assert self.command("DATA") == 354

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def stuffed(raw: bytes) -> bytes:
    """``raw`` as DATA carries it (RFC 5321 4.5.2): a dot doubled at the start of every line."""
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"", "the message ends with CRLF"
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines[:-1]) + b"\r\n"


def awkward_message(size: int, *, message_id: str | None = "big-1@client.example", long_line: int = 5000) -> bytes:
    """About ``size`` bytes with what DATA must keep: dot lines, bare LF and CR, 8-bit, a long line."""
    head = f"From: Jānis <{CLIENT}>\r\nTo: {PUBLIC}\r\nSubject: Foto\r\n".encode()
    if message_id:
        head += f"Message-ID: <{message_id}>\r\n".encode()
    head += b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    oddities = [b".\r\n", b"..\r\n", b".leading dot\r\n", b"bare LF\ninside\r\n", b"bare CR\rinside\r\n",
                b"\xc4\x81\xc5\xa1 8-bit\r\n", b"x" * long_line + b"\r\n", b"\r\n", b". \r\n"]  # fmt: skip
    filler = base64.encodebytes(os.urandom(size * 3 // 4)).replace(b"\n", b"\r\n")
    return head + b"".join(oddities) + filler + b".\r\n".join(oddities)


def spool_files(service: Any) -> list[Path]:
    folder = service.settings.service.data_dir / "smtp-spool"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def receipts(service: Any) -> list[Receipt]:
    with Session(service.engine) as session:
        return list(session.exec(select(Receipt)).all())


@pytest.mark.slow  # a running service
@pytest.mark.parametrize("message_id", ["big-1@client.example", None])
def test_a_large_message_arrives_byte_for_byte_and_its_spool_file_is_gone_after_the_commit(
    make_settings: Any, service_factory: Any, message_id: str | None
) -> None:
    raw = awkward_message(3 * 1024 * 1024, message_id=message_id)  # over the default 1 MiB
    with service_factory(make_settings()) as service:
        client = Client(service.smtp_port)
        client.begin()
        data = stuffed(raw)
        client.sock.sendall(data[: 2 * 1024 * 1024])
        (spooling,) = wait_until(lambda: spool_files(service), what="the message written to the spool")
        assert spooling.stat().st_mode & 0o777 == 0o600  # the client's text: for the service's eyes only
        client.sock.sendall(data[2 * 1024 * 1024 :] + b".\r\n")
        code, _ = client.reply()
        left = spool_files(service)  # the 250 comes after the commit, which released the file
        client.command("QUIT")
        client.close()
        (stored,) = receipts(service)
    assert code == 250 and left == []
    assert stored.raw == raw
    assert stored.natural_id == natural_id(raw)
    expected = natural_id_of("mid", message_id) if message_id else "sha256:" + hashlib.sha256(raw).hexdigest()
    assert stored.natural_id == expected


@pytest.mark.slow  # a running service
def test_a_client_gone_mid_data_leaves_no_file_and_no_receipt(make_settings: Any, service_factory: Any) -> None:
    raw = awkward_message(3 * 1024 * 1024)
    with service_factory(make_settings()) as service:
        client = Client(service.smtp_port)
        client.begin()
        client.sock.sendall(stuffed(raw)[: 2 * 1024 * 1024])
        wait_until(lambda: spool_files(service), what="the message written to the spool")
        client.sock.shutdown(socket.SHUT_RDWR)
        client.close()
        wait_until(lambda: not spool_files(service), what="the spool file removed")
        assert receipts(service) == []
        # The listener goes on: the next message is taken.
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=30) as smtp:
            assert smtp.sendmail(CLIENT, [PUBLIC], raw) == {}
        assert len(receipts(service)) == 1 and spool_files(service) == []


@pytest.mark.slow  # a running service
def test_a_failed_commit_answers_451_and_removes_the_file(
    make_settings: Any, service_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, chunks: Any, **kwargs: Any) -> Any:
        next(iter(chunks()))  # half-way through reading the file, the disk goes away
        raise OSError("disk gone")

    raw = awkward_message(2 * 1024 * 1024)
    with service_factory(make_settings()) as service:
        monkeypatch.setattr(receipt_blobs, "insert_receipt_in_chunks", broken)
        with (
            smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=30) as smtp,
            pytest.raises(smtplib.SMTPDataError) as refused,
        ):
            smtp.sendmail(CLIENT, [PUBLIC], raw)
        assert refused.value.smtp_code == 451
        assert spool_files(service) == [] and receipts(service) == []


@pytest.mark.slow  # a running service
def test_a_commit_still_running_when_its_client_goes_keeps_the_file_until_it_is_done(
    make_settings: Any, service_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit outlives the session (acknowledged only after it, stored all the same): it reads
    the spool file after its client went away, and the file goes when the commit is done."""
    entered, go = threading.Event(), threading.Event()
    real = receipt_blobs.insert_receipt_in_chunks

    def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert go.wait(30)
        return real(*args, **kwargs)

    raw = awkward_message(2 * 1024 * 1024)
    with service_factory(make_settings()) as service:
        monkeypatch.setattr(receipt_blobs, "insert_receipt_in_chunks", slow)
        client = Client(service.smtp_port)
        client.begin()
        client.sock.sendall(stuffed(raw) + b".\r\n")
        assert entered.wait(30)
        client.sock.shutdown(socket.SHUT_RDWR)
        client.close()
        time.sleep(0.5)  # the session sees its client gone and lets go of the message
        still = spool_files(service)
        go.set()
        (stored,) = wait_until(lambda: receipts(service), what="the receipt committed")
        wait_until(lambda: not spool_files(service), what="the spool file removed")
    assert len(still) == 1 and stored.raw == raw


@pytest.mark.slow  # a running service
def test_max_message_bytes_still_answers_552_and_a_long_line_500(make_settings: Any, service_factory: Any) -> None:
    settings = make_settings(
        smtp_listener={"max_message_bytes": 200_000, "spool_above_bytes": 65536, "max_line_bytes": 4000}
    )
    small = awkward_message(1000, long_line=3000)
    too_long = awkward_message(1000, long_line=5000)
    with service_factory(settings) as service:
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=30) as smtp:
            smtp.ehlo()
            for message, code in ((awkward_message(300_000, long_line=3000), 552), (too_long, 500)):
                # MAIL without SIZE=, so the limit is met in DATA, not announced before it.
                assert smtp.mail(CLIENT)[0] == 250 and smtp.rcpt(PUBLIC)[0] == 250
                assert _data_code(smtp, message) == code
                assert spool_files(service) == []
            # The session goes on: a message within the limits is taken.
            assert smtp.mail(CLIENT)[0] == 250 and smtp.rcpt(PUBLIC)[0] == 250
            assert _data_code(smtp, small) == 250
        (stored,) = receipts(service)
    assert stored.raw == small


def _data_code(smtp: smtplib.SMTP, message: bytes) -> int:
    try:
        return smtp.data(message)[0]
    except smtplib.SMTPDataError as refused:
        return refused.smtp_code


# -- the spool and the natural id, without a service ----------------------------------------------


def test_files_of_processes_that_died_are_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path, threshold=0)
    dead, ours, live = (tmp_path / f"{pid}-x.eml" for pid in (999_999_999, os.getpid(), os.getppid()))
    for path in (dead, ours, live):
        path.write_bytes(b"Subject: left\r\n\r\n")
    assert spool.sweep() == 2
    assert [p.name for p in tmp_path.iterdir()] == [live.name]


def test_the_natural_id_from_the_header_block_is_the_one_from_the_whole_message(tmp_path: Path) -> None:
    """Reading only the header block (never decoding the body) finds what parsing all of it found,
    on every message of the corpora, and a spooled message gets the id its bytes give."""

    def before(raw: bytes) -> str:  # the reading before issue 15: the whole message parsed
        from channels.email_headers import mend_header_block

        value = BytesHeaderParser(policy=policy.compat32).parsebytes(mend_header_block(raw)).get("Message-ID")
        mid = str(value).strip().strip("<>").strip() if value else ""
        return natural_id_of("mid", mid) if mid else "sha256:" + hashlib.sha256(raw).hexdigest()

    spool = Spool(tmp_path, threshold=0)
    checked = 0
    for path in sorted(p for p in CORPORA.rglob("*") if p.is_file() and p.name != "SOURCE" and p.suffix != ".upstream"):
        raw = path.read_bytes()
        try:
            expected = before(raw)
        except Exception:  # noqa: BLE001, S112 - what the old reading choked on has no id to compare
            continue
        assert natural_id(raw) == expected, path
        spooled = spool.new()
        for at in range(0, len(raw), 7001):  # written in pieces, read back in others
            spooled.write(raw[at : at + 7001])
        spooled.finish()
        assert spooled.natural_id() == expected, path
        spooled.release()
        checked += 1
    assert checked > 100 and list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a running service
def test_a_spool_that_cannot_be_written_answers_452_not_a_bounce(make_settings: Any, service_factory: Any) -> None:
    """A full or broken disk is the service's trouble: the sender keeps the mail and retries (4xx)."""
    settings = make_settings()
    settings.service.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.service.data_dir / "smtp-spool").write_bytes(b"")  # a file where the folder should be
    with service_factory(settings) as service:
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=30) as smtp:
            smtp.ehlo()
            assert smtp.mail(CLIENT)[0] == 250 and smtp.rcpt(PUBLIC)[0] == 250
            assert _data_code(smtp, awkward_message(2 * 1024 * 1024)) == 452
            # A message kept in memory needs no spool file.
            assert smtp.mail(CLIENT)[0] == 250 and smtp.rcpt(PUBLIC)[0] == 250
            assert _data_code(smtp, awkward_message(10_000)) == 250
        assert len(receipts(service)) == 1
