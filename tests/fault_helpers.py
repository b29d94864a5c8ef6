"""Helpers for the fault experiments (tests/test_faults.py).

A real `ingest serve` process configured through INGEST__ environment variables, clients that
retry the way a real MTA (SMTP 4xx, connection refused) and Twilio (webhook 5xx, no answer) do,
and counts read straight from the database.
"""

from __future__ import annotations

import email
import os
import signal
import smtplib
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func
from sqlmodel import Session, select

from storage.models import Inquiry, Message, Outbox, Receipt
from tests.support import ROOT, free_port
from tests.twilio_helpers import ACCOUNT, INBOUND, PUBLIC, TOKEN, signed_post

PUBLIC_ADDRESS = "klienti@example.lv"


def base_env(database_url: str, **overrides: str) -> dict[str, str]:
    """Environment for a service process: fast retries, short lease, the given database."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "INGEST__DATABASE__URL": database_url,
        "INGEST__DATABASE__POOL_SIZE": "5",
        "INGEST__SERVICE__LOG_LEVEL": "INFO",
        "INGEST__PIPELINE__POLL_SECONDS": "0.3",
        "INGEST__PIPELINE__BACKOFF_BASE_SECONDS": "0.2",
        "INGEST__PIPELINE__BACKOFF_MAX_SECONDS": "1",
        "INGEST__PIPELINE__MAX_ATTEMPTS": "1000",
        "INGEST__OUTBOX__POLL_SECONDS": "0.3",
        "INGEST__OUTBOX__BACKOFF_BASE_SECONDS": "0.2",
        "INGEST__OUTBOX__BACKOFF_MAX_SECONDS": "1",
        "INGEST__OUTBOX__MAX_ATTEMPTS": "1000",
        # Production: 5 min. A row whose "sent" could not be recorded is taken again within the test.
        "INGEST__OUTBOX__LEASE_SECONDS": "3",
        "INGEST__CLUSTER__LEADER_RETRY_SECONDS": "0.5",
        **overrides,
    }


def relay_env(port: int) -> dict[str, str]:
    return {
        "INGEST__OUTGOING_MAIL__RELAY_HOST": "127.0.0.1",
        "INGEST__OUTGOING_MAIL__RELAY_PORT": str(port),
        "INGEST__OUTGOING_MAIL__SECURITY": "none",
        "INGEST__OUTGOING_MAIL__TIMEOUT_SECONDS": "5",
    }


def twilio_env(api_url: str) -> dict[str, str]:
    return {
        "INGEST__TWILIO__ENABLED": "true",
        "INGEST__TWILIO__ACCOUNT_SID": ACCOUNT,
        "INGEST__TWILIO__AUTH_TOKEN": TOKEN,
        "INGEST__TWILIO__PUBLIC_BASE_URL": PUBLIC,
        "INGEST__TWILIO__SMS_FROM": "+37167000001",
        "INGEST__TWILIO__WHATSAPP_FROM": "+37167000000",
        "INGEST__TWILIO__STATUS_CALLBACKS": "false",
        "INGEST__TWILIO__API_BASE_URL": api_url,
    }


@dataclass
class ServiceProcess:
    """One `ingest serve` process; the config file is the example, everything else from ``env``."""

    tmp: Path
    env: dict[str, str]
    name: str = "service"
    http_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.config = self.tmp / "config.toml"
        if not self.config.exists():
            self.config.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8"), encoding="utf-8")
        self.log = self.tmp / f"{self.name}.log"
        self.env = {
            "INGEST__SERVICE__DATA_DIR": str(self.tmp / "var"),
            **self.env,
            "INGEST__HTTP__PORT": str(self.http_port),
            "INGEST__SMTP_LISTENER__PORT": str(self.smtp_port),
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "ingest.cli", "serve", "--config", str(self.config)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health() is not None:
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.2)
        self.kill()
        raise AssertionError(f"{self.name} did not start:\n{self.tail()}")

    def health(self) -> tuple[int, dict[str, Any]] | None:
        try:
            response = httpx.get(f"{self.base_url}/health", timeout=5)
        except httpx.HTTPError:
            return None
        return response.status_code, response.json()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not stop. Returns the exit code (None: had to kill)."""
        if self.popen is None or self.popen.poll() is not None:
            return self.popen.returncode if self.popen else None
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`ingest ARGS --config ...` with the service's environment (doctor, retry)."""
        return subprocess.run(
            [sys.executable, "-m", "ingest.cli", *args, "--config", str(self.config)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# --- clients that retry as real senders do ------------------------------------------------------


def client_mail(n: int, *, tag: str, attachment: bytes | None = None, sender: str | None = None) -> tuple[bytes, str]:
    """A client's message with a Message-ID of its own; returns (raw bytes, envelope sender)."""
    sender = sender or f"client{n}@client{n % 13}.example"
    msg = EmailMessage()
    msg["From"] = f"Klients {n} <{sender}>"
    msg["To"] = PUBLIC_ADDRESS
    msg["Subject"] = f"Bedre uz ceļa {tag} {n}"
    msg["Message-ID"] = f"<{tag}-{n}@client.example>"
    msg.set_content(f"Labdien! Uz ielas nr. {n} ir bedre. ({tag})")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename=f"foto-{n}.bin")
    # CRLF line ends: smtplib sends bytes as they are, and a bare-LF message is one long line.
    return msg.as_bytes(policy=policy.SMTP), sender


def smtp_once(port: int, raw: bytes, sender: str, *, timeout: float = 15) -> str:
    """One hand-in attempt; returns the outcome: "250", the 4xx/5xx code, or "conn" (no SMTP answer)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as smtp:
            smtp.sendmail(sender, [PUBLIC_ADDRESS], raw)
        return "250"
    except smtplib.SMTPResponseException as exc:  # SMTPDataError, SMTPSenderRefused, ...
        return str(exc.smtp_code)
    except smtplib.SMTPRecipientsRefused as exc:
        return str(min(code for code, _ in exc.recipients.values()))
    except (smtplib.SMTPException, OSError):
        return "conn"


def smtp_until_accepted(port: int, raw: bytes, sender: str, seen: Counter[str], *, deadline: float) -> None:
    """Hand a message in, retrying on 4xx and on no answer until 250 (a 5xx is a test failure)."""
    while True:
        outcome = smtp_once(port, raw, sender)
        seen[outcome] += 1
        if outcome == "250":
            return
        if outcome.startswith("5"):
            raise AssertionError(f"SMTP answered {outcome}: a permanent refusal, the sender would bounce it")
        if time.monotonic() > deadline:
            raise AssertionError(f"message not accepted before the deadline; answers so far {dict(seen)}")
        time.sleep(0.2)


def webhook_until_accepted(
    base_url: str, fields: list[tuple[str, str]], seen: Counter[str], *, deadline: float
) -> None:
    """Post a signed inbound webhook until it is answered 200, as Twilio retries a 5xx or no answer."""
    while True:
        try:
            status = str(httpx.post(base_url + INBOUND, timeout=15, **signed_post(INBOUND, fields)).status_code)
        except httpx.HTTPError:
            status = "conn"
        seen[status] += 1
        if status == "200":
            return
        if status.startswith("4"):
            raise AssertionError(f"webhook answered {status}: Twilio would not retry it")
        if time.monotonic() > deadline:
            raise AssertionError(f"webhook not accepted before the deadline; answers so far {dict(seen)}")
        time.sleep(0.2)


# --- counting -----------------------------------------------------------------------------------


@dataclass
class DbCounts:
    receipts: Counter[str]  # by status
    receipt_ids: Counter[str]  # natural id -> rows (must all be 1)
    messages: int
    inquiries: int
    references: set[str]
    outbox: Counter[tuple[str, str]]  # (kind, status)
    staff_rows_per_inquiry: Counter[int]
    outbox_message_ids: dict[str, str]  # Message-ID (no brackets) -> kind

    @property
    def parked(self) -> int:
        return self.receipts.get("parked", 0)

    @property
    def open_outbox(self) -> int:
        return sum(n for (_, status), n in self.outbox.items() if status != "sent")


def db_counts(url: str) -> DbCounts:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            receipts = session.exec(select(Receipt.natural_id, Receipt.status)).all()
            outbox = session.exec(select(Outbox.kind, Outbox.status, Outbox.inquiry_id, Outbox.external_id)).all()
            references = set(session.exec(select(Inquiry.reference)).all())
            messages = session.exec(select(func.count()).select_from(Message)).one()
    finally:
        engine.dispose()
    return DbCounts(
        receipts=Counter(status for _, status in receipts),
        receipt_ids=Counter(nid for nid, _ in receipts),
        messages=int(messages),
        inquiries=len(references),
        references=references,
        outbox=Counter((kind, status) for kind, status, _, _ in outbox),
        staff_rows_per_inquiry=Counter(i for kind, _, i, _ in outbox if kind == "staff_notification"),
        outbox_message_ids={
            ext.removeprefix("mid:").strip("<>"): kind for kind, _, _, ext in outbox if ext and ext.startswith("mid:")
        },
    )


def parse_mail(raw: bytes) -> Any:
    return email.message_from_bytes(raw, policy=policy.default)


def delivered_counts(messages: list[Any]) -> tuple[Counter[str], Counter[str]]:
    """(by Message-ID, by X-Inquiry-Reference) over delivered messages."""
    by_id = Counter(str(m["Message-ID"]).strip().strip("<>") for m in messages)
    by_ref = Counter(str(m["X-Inquiry-Reference"]) for m in messages if m["X-Inquiry-Reference"])
    return by_id, by_ref


def summary(name: str, **counts: Any) -> str:
    line = f"[faults] {name}: " + ", ".join(f"{k}={v}" for k, v in counts.items())
    print("\n" + line)
    return line
