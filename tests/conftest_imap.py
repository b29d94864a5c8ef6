"""IMAP fixtures: one real Dovecot per test session, a fresh empty mailbox (a new user) per test.

A pytest plugin, listed in ``pytest_plugins`` of tests/conftest.py: a test takes ``dovecot``,
``dovecot_tls`` or ``imap_user`` as an argument and imports nothing. The test mail and the
mailbox helpers are in tests/imap_helpers.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dovecot import Dovecot, ImapUser


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[Dovecot]:
    """A second instance with a self-signed certificate: STARTTLS on ``port``, TLS on ``tls_port``."""
    server = Dovecot(tls=True)
    server.start(pool=10)
    yield server
    server.cleanup()


@pytest.fixture
def imap_user(dovecot: Dovecot) -> ImapUser:
    return dovecot.new_user()
