"""The SMTP listener's bounds (issue 15, item 8): sessions open at once and recipients per message are
limited, over real SMTP; over either the sending server is told to try again later, never dropped."""

from __future__ import annotations

import smtplib
import socket
from typing import Any

import pytest

from tests.smtp_helpers import CLIENT, PUBLIC
from tests.support import wait_until


def greeting(port: int) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock, sock.recv(200)


@pytest.mark.slow  # a running service
def test_sessions_over_the_limit_get_421_and_recipients_over_it_452(make_settings: Any, service_factory: Any) -> None:
    settings = make_settings(smtp_listener={"max_sessions": 2, "max_recipients": 2})
    with service_factory(settings) as service:
        first, hello1 = greeting(service.smtp_port)
        second, hello2 = greeting(service.smtp_port)
        third, refused = greeting(service.smtp_port)
        assert hello1.startswith(b"220") and hello2.startswith(b"220")
        assert refused.startswith(b"421 4.7.0"), refused
        for sock in (third, first, second):
            sock.close()

        def free_again() -> bool:  # the server sees the close on its own time
            sock, hello = greeting(service.smtp_port)
            sock.close()
            return hello.startswith(b"220")

        # Two places: the probe's own session, if not yet seen closed, leaves one for the next.
        wait_until(free_again, what="the places freed by the closes")
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            smtp.ehlo()
            smtp.mail(CLIENT)
            codes = [smtp.rcpt(address)[0] for address in (PUBLIC, PUBLIC.replace("@", "+a@"), PUBLIC)]
    assert codes == [250, 250, 452]


@pytest.mark.slow  # a running service
def test_a_line_longer_than_1000_bytes_is_taken_whole(make_settings: Any, service_factory: Any) -> None:
    """aiosmtpd's default refused it with 500; Postfix and Exim take such mail (issue 14)."""
    from sqlmodel import Session, select

    from storage.models import Receipt

    line = "Labdien! " + "konteiners " * 500  # about 5,500 bytes on one line
    head = f"From: {CLIENT}\r\nTo: {PUBLIC}\r\nSubject: Long\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    raw = f"{head}{line}\r\n"
    with service_factory(make_settings()) as service:
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            refused = smtp.sendmail(CLIENT, [PUBLIC], raw.encode())
        with Session(service.engine) as session:
            stored = session.exec(select(Receipt)).one()
    assert refused == {} and line.encode() in stored.raw
