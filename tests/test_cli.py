"""The ``ingest`` command as a user runs it: a real process, real sockets, a real signal."""

from __future__ import annotations

import json
import re
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, wait_until, write_config

INGEST = [sys.executable, "-m", "ingest.cli"]


@pytest.mark.slow  # a real `ingest` process
def test_inspect_email_explains_routing_without_storing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    mail = EmailMessage()
    mail["From"] = "Ольга Смирнова <olga@client.example>"
    mail["To"] = "klienti@example.lv"
    mail["Subject"] = "Нет горячей воды"
    mail["Message-ID"] = "<hot-1@client.example>"
    mail.set_content("Здравствуйте, в квартире нет горячей воды с понедельника.")
    mail.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="akts.pdf")
    eml = tmp_path / "mail.eml"
    eml.write_bytes(mail.as_bytes())

    run = subprocess.run([*INGEST, "inspect-email", str(eml), "--config", str(config)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["sender"] == {"name": "Ольга Смирнова", "address": "olga@client.example"}
    assert out["subject"] == "Нет горячей воды"
    assert "горячей воды" in out["text"]
    assert out["attachments"] == [
        {"filename": "akts.pdf", "content_type": "application/pdf", "size": 13, "omitted": None}
    ]
    routing = out["routing"]
    assert routing["topic"] == "siltums" and routing["complexity"] == "complex"
    assert routing["employee"]["key"] == "siltums"
    assert routing["employee"]["name"] == "Andris Ozols"
    assert routing["rule"] == "topic-keyword" and routing["facts"]["keyword"] == "горяч"
    assert routing["due_at"].endswith(("+02:00", "+03:00"))
    assert out["automatic"] is None and out["threads_into"] is None
    assert not (tmp_path / "var" / "ingest.sqlite3").exists()  # nothing stored


@pytest.mark.slow  # a real `ingest` process
def test_inspect_email_recognises_an_auto_reply(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    eml = tmp_path / "ooo.eml"
    eml.write_bytes(
        b"From: client@client.example\r\nTo: klienti@example.lv\r\nSubject: Prombutne\r\n"
        b"Auto-Submitted: auto-replied\r\n\r\nEsmu prom.\r\n"
    )
    run = subprocess.run([*INGEST, "inspect-email", str(eml), "--config", str(config)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["automatic"] == {
        "kind": "auto-reply",
        "why": "Auto-Submitted: auto-replied",
        "opens_inquiry": False,
    }


def test_inspect_email_reports_unusable_message(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    eml = tmp_path / "junk.eml"
    eml.write_bytes(b"\x00\x01 nothing here")
    run = subprocess.run([*INGEST, "inspect-email", str(eml), "--config", str(config)], capture_output=True, text=True)
    assert run.returncode == 1
    assert "no sender address" in json.loads(run.stdout)["error"]
    assert "Traceback" not in run.stderr


def _port(log: str, what: str) -> int | None:
    found = re.search(rf"{what} on 127\.0\.0\.1:(\d+)", log)
    return int(found.group(1)) if found else None


@pytest.mark.slow  # a real `ingest serve` process, SIGTERM
def test_serve_runs_everything_and_stops_cleanly_on_sigterm(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([*INGEST, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:

        def listening() -> str | None:
            text = log_path.read_text()
            return text if _port(text, "HTTP") and _port(text, "SMTP listener") else None

        text = wait_until(listening, timeout=30, what="the service to listen")
        http, smtp = _port(text, "HTTP"), _port(text, "SMTP listener")
        health = httpx.get(f"http://127.0.0.1:{http}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"

        mail = EmailMessage()
        mail["From"] = "client@client.example"
        mail["To"] = "klienti@example.lv"
        mail["Subject"] = "Sniegs nav notīrīts"
        mail.set_content("Mūsu ielā nav notīrīts sniegs.")
        with smtplib.SMTP("127.0.0.1", smtp, timeout=10) as client:
            client.send_message(mail)
        outgoing = tmp_path / "var" / "outgoing-mail"
        files = wait_until(lambda: list(outgoing.glob("*-staff_notification.eml")), what="the notification file")
        assert b"martins.liepa@example.lv" in files[0].read_bytes()
        acks = wait_until(lambda: list(outgoing.glob("*-client_ack.eml")), what="the acknowledgement file")
        assert b"To: client@client.example" in acks[0].read_bytes()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log_text = log_path.read_text()
    assert "service stopped" in log_text
    assert "Traceback" not in log_text
    # No client data in the log: neither the address nor the text.
    assert "client@client.example" not in log_text and "notīrīts" not in log_text


@pytest.mark.slow  # a real `ingest serve` process
def test_serve_with_bad_config_exits_with_message(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        (ROOT / "config.example.toml").read_text().replace('timezone = "Europe/Riga"', 'timezone = "Riga"')
    )
    run = subprocess.run([*INGEST, "serve", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "service.timezone: unknown time zone 'Riga'" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow  # a real `ingest serve` process
def test_serve_reports_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path)
        config.write_text(config.read_text().replace("port = 0", f"port = {port}", 1))
        run = subprocess.run([*INGEST, "serve", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
