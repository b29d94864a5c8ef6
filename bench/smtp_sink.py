"""The SMTP burst's baseline: a bare aiosmtpd sink that parses each message and commits it.

Run by bench/end_to_end.py as ``python bench/smtp_sink.py PORT DB``: every message is parsed as a
naive importer would (email.policy.default, every part's content read) and stored in SQLite
(WAL, synchronous=FULL, as the service runs) with one commit before the 250 reply.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import signal
import sqlite3
import sys
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, sender TEXT, subject TEXT, raw BLOB)")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        for part in msg.walk():
            if not part.is_multipart():
                part.get_content()
        with self.db:
            self.db.execute(
                "INSERT INTO message (sender, subject, raw) VALUES (?, ?, ?)",
                (str(msg["From"]), str(msg["Subject"]), envelope.content),
            )
        return "250 OK"


class LongLines(SMTP):
    # As the service's listener: real mail has lines over SMTP's 1,000 bytes. Set on the class:
    # aiosmtpd sizes its stream reader from it while the instance is made.
    line_length_limit = 64 * 1024


class SinkController(Controller):
    def factory(self) -> SMTP:
        return LongLines(self.handler, hostname="127.0.0.1")


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    controller = SinkController(Sink(path), hostname="127.0.0.1", port=port, data_size_limit=50 * 1024 * 1024)
    controller.start()
    stopped = asyncio.Event()
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    loop.run_until_complete(stopped.wait())
    controller.stop()


if __name__ == "__main__":
    main()
