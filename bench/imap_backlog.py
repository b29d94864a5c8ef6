"""How fast the IMAP poller takes a backlog: a throwaway Dovecot, 1,000 messages, no pipeline.

Run: .venv/bin/python -m bench.imap_backlog [DATABASE_URL] [BATCH_SIZE]
(default: SQLite in a temp dir, batches of 200). Needs Dovecot installed (see tests/dovecot.py).
"""

from __future__ import annotations

import sys
import tempfile
import time

from channels.email import EmailChannel
from channels.imap_poller import ImapPoller
from ingest.config import ImapSettings
from ingest.receipts import ReceiptStore
from storage.db import make_engine, migrate, session_factory
from storage.types import utcnow
from tests.conftest_imap import append_all, client_message
from tests.dovecot import Dovecot


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    total = 1000
    server = Dovecot()
    server.start(pool=1)
    try:
        user = server.new_user()
        append_all(user, [client_message(n) for n in range(total)])
        engine = make_engine(url, pool_size=5)
        migrate(engine)
        sessions = session_factory(engine)
        poller = ImapPoller(
            ImapSettings(**user.settings(batch_size=batch)),
            sessions=sessions,
            receipts=ReceiptStore(sessions=sessions, clock=utcnow),
            channel=EmailChannel(),
            clock=utcnow,
        )
        start = time.monotonic()
        poller.start()
        while poller.stored < total:
            time.sleep(0.01)
        took = time.monotonic() - start
        poller.stop()
        engine.dispose()
        print(f"{url.split(':')[0]}, batches of {batch}: {total} messages in {took:.2f} s = {total / took:.0f} messages/s "
              "(connect, fetch, store with position, flag on the server)")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
