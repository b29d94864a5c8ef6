"""The outbox keeps one connection to the SMTP relay for a batch of sends, and gets a new one when
the relay has closed it; what the relay answers is classified per message, as with a connection each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from ingest.config import RetrySettings
from ingest.outgoing.mail_transport import PermanentFailure, SmtpRelay, build_email
from ingest.outgoing.outbox import OutboxSender
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Outbox, OutboxStatus
from storage.types import utcnow
from tests.support import Relay


class CountingRelay(Relay):
    """The test relay, noting the client's address and port of each message: one per connection."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def counting_relay() -> Iterator[CountingRelay]:
    server = CountingRelay()
    server.start()
    yield server
    server.stop()


def payload(n: int) -> dict[str, Any]:
    return {
        "from": ["Klientu apkalpošana", "klienti@example.lv"], "to": ["Jānis Kalniņš", f"janis{n}@example.lv"],
        "subject": f"Pieteikums GK-2026-{n:06d}", "text": "Teksts.", "message_id": f"gk-{n}@example.lv",
        "date": "Wed, 11 Mar 2026 10:00:00 +0200",
    }  # fmt: skip


def test_an_outbox_batch_is_sent_over_one_connection(database_url: str, counting_relay: CountingRelay) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        for n in range(12):
            session.add(Outbox(kind="staff_notification", channel="email", recipient=f"janis{n}@example.lv",
                               payload=payload(n), next_attempt_at=utcnow() - timedelta(seconds=1)))  # fmt: skip
    relay = SmtpRelay(host="127.0.0.1", port=counting_relay.port, timeout=10)
    sender = OutboxSender(sessions=sessions, transports={"email": relay}, retry=RetrySettings(), clock=utcnow)
    assert sender.deliver_due() == 12
    with sessions() as session:
        statuses = {row.status for row in session.exec(select(Outbox)).all()}
    engine.dispose()
    assert statuses == {OutboxStatus.SENT.value}
    assert len(counting_relay.messages) == 12
    assert len(set(counting_relay.peers)) == 1  # before: one connection per message
    # The batch's end closed the connection: a send outside a batch has one of its own.
    relay.send(build_email(payload(99)), name="x")
    assert len(set(counting_relay.peers)) == 2


def test_a_kept_connection_the_relay_closed_is_opened_again(counting_relay: CountingRelay) -> None:
    relay = SmtpRelay(host="127.0.0.1", port=counting_relay.port, timeout=10)
    with relay.batch():
        relay.send(build_email(payload(1)), name="a")
        relay.send(build_email(payload(2)), name="b")
        counting_relay.stop()  # the relay restarts: its connections are gone
        counting_relay.start()
        relay.send(build_email(payload(3)), name="c")
        relay.send(build_email(payload(4)), name="d")
    assert [m.count(b"gk-") for m in counting_relay.messages] == [1, 1, 1, 1]
    assert len(counting_relay.messages) == 4
    assert len(set(counting_relay.peers)) == 2


def test_a_refusal_is_per_message_and_the_connection_serves_the_next(counting_relay: CountingRelay) -> None:
    relay = SmtpRelay(host="127.0.0.1", port=counting_relay.port, timeout=10)
    with relay.batch():
        relay.send(build_email(payload(1)), name="a")
        counting_relay.reply = "554 5.7.1 rejected"
        with pytest.raises(PermanentFailure, match="554"):
            relay.send(build_email(payload(2)), name="b")
        counting_relay.reply = "250 OK"
        relay.send(build_email(payload(3)), name="c")
    assert len(counting_relay.messages) == 2
    assert len(set(counting_relay.peers)) == 1
