"""Mail in the charsets clients here use, sent through the real listener, stored with the right text.

The messages are in tests/data/own (written for this project); expected.json
gives what a person must see for each.
"""

from __future__ import annotations

import json
import smtplib
from typing import Any

import pytest
from sqlmodel import Session, select

from storage.models import Attachment, Message
from tests.support import DATA, wait_until

OWN = DATA / "own"
EXPECTED: dict[str, Any] = json.loads((OWN / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def settings(make_settings: Any, relay: Any) -> Any:
    return make_settings(outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"})


def test_every_charset_sample_arrives_with_the_right_text(settings: Any, relay: Any, service_factory: Any) -> None:
    names = sorted(EXPECTED)
    assert len(names) >= 10
    with service_factory(settings) as service:
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            for name in names:
                smtp.sendmail("client@client.example", ["klienti@example.lv"], (OWN / name).read_bytes())
        wait_until(lambda: len(relay.staff()) >= len(names), what="a notification per message", timeout=30)
        with Session(service.engine) as session:
            messages = session.exec(select(Message).order_by(Message.id)).all()
            attachments = session.exec(select(Attachment)).all()
    by_subject = {m.subject: m for m in messages}
    assert len(messages) == len(names)
    for name in names:
        want = EXPECTED[name]
        message = by_subject.get(want["subject"])
        assert message is not None, f"{name}: subject {want['subject']!r} not found in {list(by_subject)}"
        assert message.text == want["text"], name
        stored = sorted([a.filename, a.content_type, a.size] for a in attachments if a.message_id == message.id)
        assert stored == sorted(want["attachments"]), name
    # The staff notification carries the client's text, correctly decoded.
    bodies = "\n".join(m.get_content() for m in relay.parsed())
    for want in EXPECTED.values():
        assert want["text"].splitlines()[0] in bodies
