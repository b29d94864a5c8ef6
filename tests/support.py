"""Plain helpers the tests share: paths, waiting, free ports, throwaway PostgreSQL databases, the
example configuration, a real SMTP relay (aiosmtpd) and the service running in a thread.

The fixtures built on these live in tests/conftest.py; test modules import from here, never from
a conftest.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, inspect, text

if TYPE_CHECKING:
    from ingest.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PG_ADMIN_URL = os.environ.get("INGEST_TEST_PG_ADMIN_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
# The example config's staff all have addresses here.
STAFF_DOMAIN = "@example.lv"


def wait_until(predicate: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- databases ------------------------------------------------------------------------------


@contextmanager
def throwaway_pg_database(prefix: str, *, drop_tries: int = 1) -> Iterator[str]:
    """A database of its own on the test server, dropped at the end; ``drop_tries`` half-second
    tries when the server may still be coming back (a test restarted it)."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    # pre_ping: a restart of the cluster must not leave the admin engine with dead connections.
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        raise RuntimeError(
            f"PostgreSQL is needed for the tests and was not reachable at {PG_ADMIN_URL}: {exc}. "
            "Start it (.ci/run does) or point INGEST_TEST_PG_ADMIN_URL at one."
        ) from exc
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        for attempt in range(drop_tries):
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                break
            except Exception:  # noqa: BLE001
                if attempt + 1 == drop_tries:
                    raise
                time.sleep(0.5)
        admin.dispose()


def empty_pg_database(url: str) -> None:
    """Truncate every table but alembic's: as good as a new database, and it costs milliseconds."""
    engine = create_engine(url)
    try:
        tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        if tables:
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


# --- configuration --------------------------------------------------------------------------


def example_document() -> dict[str, Any]:
    return tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def write_config(tmp_path: Path, database_url: str | None = None, **extra: str) -> Path:
    """The example configuration as a file for the ``ingest`` command: ports chosen by the OS,
    data under ``tmp_path``, and this test's database when given."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('data_dir = "var"', f'data_dir = "{tmp_path / "var"}"')
    text = text.replace("port = 8080", "port = 0").replace("port = 2525", "port = 0")
    if database_url:
        text = text.replace('url = ""', f'url = "{database_url}"', 1)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- a real SMTP relay ----------------------------------------------------------------------


class Relay:
    """An aiosmtpd server standing in for the company's mail relay; can be taken down and back."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reply: str = "250 OK"
        self._controller_cls = Controller
        self._controller: Any = None
        self.port = free_port()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply.startswith("250"):
            self.messages.append(envelope.original_content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return self.reply

    def start(self) -> None:
        self._controller = self._controller_cls(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def parsed(self, *, staff: bool | None = None) -> list[Any]:
        """Messages received: all, or only those to the office's staff (True) or to clients (False)."""
        import email
        from email import policy

        out = []
        for raw, (_, rcpts) in zip(self.messages, self.envelopes, strict=True):
            to_staff = any(r.endswith(STAFF_DOMAIN) for r in rcpts)
            if staff is None or staff == to_staff:
                out.append(email.message_from_bytes(raw, policy=policy.default))
        return out

    def staff(self) -> list[Any]:
        return self.parsed(staff=True)

    def clients(self) -> list[Any]:
        return self.parsed(staff=False)


# --- a running service ----------------------------------------------------------------------


@contextmanager
def running_service(settings: Settings, **kwargs: Any) -> Iterator[Any]:
    """The real service in a thread of its own, with its own event loop."""
    from ingest.service import Service

    service = Service(settings, **kwargs)
    errors: list[BaseException] = []
    ready = threading.Event()

    def main() -> None:
        async def run() -> None:
            task = asyncio.create_task(service.run())
            started = asyncio.create_task(service.started.wait())
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
            ready.set()
            await task

        try:
            asyncio.run(run())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=main, name="service", daemon=True)
    thread.start()
    ready.wait(30)
    if errors:
        raise errors[0]
    try:
        yield service
    finally:
        service.request_stop()
        thread.join(30)
        assert not thread.is_alive(), "service did not stop within 30 s"
        if errors:
            raise errors[0]
