"""The outbox sending through an SMTP relay: notifications/s with the connection kept for a batch,
and with a connection per message (as before), against a bare smtplib client on one connection.

Run: .venv/bin/python -m bench.outbox_relay [--messages 1000] [--delay-ms 0]

The relay is aiosmtpd on loopback, without TLS; ``--delay-ms`` makes it wait that long before its
greeting, as a remote relay's round trips and TLS handshake would: what a connection per message
pays each time, and a kept connection once per batch.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from bench._common import free_port, machine
from ingest.config import RetrySettings
from ingest.outgoing.mail_bytes import message_bytes
from ingest.outgoing.mail_transport import SmtpRelay, build_email
from ingest.outgoing.outbox import OutboxSender
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Outbox
from storage.types import utcnow


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


class SlowGreeting(Controller):
    delay = 0.0

    def factory(self) -> SMTP:
        server = SMTP(self.handler, hostname="relay.example")
        greet = server._handle_client  # noqa: SLF001 - the greeting is sent first thing there

        async def delayed() -> None:
            await asyncio.sleep(self.delay)
            await greet()

        server._handle_client = delayed  # type: ignore[method-assign]  # noqa: SLF001
        return server


@dataclass(frozen=True)
class ConnectionPerMessage:
    """The relay as it was: no ``batch``, so every send opens a connection of its own."""

    relay: SmtpRelay

    def send(self, message: EmailMessage, *, name: str) -> None:
        self.relay.send(message, name=name)

    def describe(self) -> str:
        return self.relay.describe()


def payload(n: int) -> dict[str, Any]:
    return {
        "from": ["Klientu apkalpošana", "klienti@example.lv"], "to": ["Jānis Kalniņš", f"janis{n}@example.lv"],
        "subject": f"Jauns pieteikums GK-2026-{n:06d}: atkritumu izvešana", "text": "Teksts.\n" * 40,
        "message_id": f"gk-{n}@example.lv", "date": "Wed, 11 Mar 2026 10:00:00 +0200",
    }  # fmt: skip


def outbox_rate(transport: Any, total: int) -> float:
    with tempfile.TemporaryDirectory(prefix="gk-bench-relay-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/db.sqlite")
        migrate(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            for n in range(total):
                session.add(Outbox(kind="staff_notification", channel="email", recipient=f"janis{n}@example.lv",
                                   payload=payload(n), next_attempt_at=utcnow() - timedelta(seconds=1)))  # fmt: skip
        sender = OutboxSender(sessions=sessions, transports={"email": transport}, retry=RetrySettings(), clock=utcnow)
        t0 = time.perf_counter()
        while sender.deliver_due():
            pass
        seconds = time.perf_counter() - t0
        engine.dispose()
        return total / seconds


def bare_rate(port: int, total: int) -> float:
    messages = [message_bytes(build_email(payload(n))) for n in range(total)]
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for n, raw in enumerate(messages):
            client.sendmail("klienti@example.lv", [f"janis{n}@example.lv"], raw)
    return total / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    sink, port = Sink(), free_port()
    controller = SlowGreeting(sink, hostname="127.0.0.1", port=port)
    controller.delay = args.delay_ms / 1000
    controller.start()
    try:
        relay = SmtpRelay(host="127.0.0.1", port=port, timeout=30)
        base = bare_rate(port, args.messages)
        kept = outbox_rate(relay, args.messages)
        each = outbox_rate(ConnectionPerMessage(relay), args.messages)
        base = (base + bare_rate(port, args.messages)) / 2
    finally:
        controller.stop()
    print(f"machine: {machine()}; {args.messages} notifications; relay greeting delay {args.delay_ms:g} ms")
    print(f"bare smtplib, one connection (baseline): {base:8.1f} msg/s")
    print(f"outbox, connection kept for a batch:     {kept:8.1f} msg/s  ratio {kept / base:.3f}")
    print(f"outbox, connection per message (before): {each:8.1f} msg/s  ratio {each / base:.3f}")


if __name__ == "__main__":
    main()
