"""A throwaway Dovecot 2.3 IMAP server for the tests: loopback only, maildir in a temp dir.

Dovecot refuses to run its login process as root, so when the tests run as root (CI does) the
instance runs as ``nobody`` with its temp dir owned by that user. Users live in a passwd-file that
Dovecot re-reads when it changes, so a test gets a fresh, empty mailbox by adding a new user.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
RUN_AS = "nobody"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ImapUser:
    username: str
    password: str
    host: str
    port: int

    def settings(self, **extra: object) -> dict[str, object]:
        """An ``[imap]`` config section for this mailbox (plaintext on loopback)."""
        base: dict[str, object] = {
            "enabled": True,
            "host": self.host,
            "port": self.port,
            "security": "none",
            "allow_plaintext": True,
            "username": self.username,
            "password": self.password,
            "poll_seconds": 1,
            "reconnect_max_seconds": 2,
        }
        base.update(extra)
        return base

    def client(self, *, folder: str | None = "INBOX"):  # type: ignore[no-untyped-def]
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.login(self.username, self.password)
        if folder:
            client.select_folder(folder)
        return client


class Dovecot:
    """One Dovecot instance; ``start``/``stop``, ``new_user`` for an empty mailbox."""

    def __init__(self, *, tls: bool = False) -> None:
        # tls: a self-signed certificate for 127.0.0.1 (self.ca_file), STARTTLS on the imap port
        # and implicit TLS on self.tls_port.
        self.tls = tls
        self.tls_port = _free_port() if tls else 0
        self.as_root = os.geteuid() == 0
        if self.as_root:
            entry = pwd.getpwnam(RUN_AS)
            self.user, self.uid, self.gid = RUN_AS, entry.pw_uid, entry.pw_gid
            self.group = grp.getgrgid(self.gid).gr_name
        else:
            entry = pwd.getpwuid(os.geteuid())
            self.user, self.uid, self.gid = entry.pw_name, entry.pw_uid, entry.pw_gid
            self.group = grp.getgrgid(self.gid).gr_name
        # Not under pytest's tmp dir: that one is private to root and the server runs as nobody.
        self.base = Path(tempfile.mkdtemp(prefix="gk-dovecot-"))
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.users_file = self.base / "users"
        self._pid: int | None = None
        self._counter = 0
        self._pool: list[ImapUser] = []

    # -- files ---------------------------------------------------------------------------------

    def _chown(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def _write_config(self) -> Path:
        b = self.base
        conf = f"""
protocols = imap
listen = 127.0.0.1
base_dir = {b}/run
state_dir = {b}/state
log_path = {b}/dovecot.log
info_log_path = {b}/dovecot.log
{self._ssl_settings()}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_fsync = never
default_login_user = {self.user}
default_internal_user = {self.user}
default_internal_group = {self.group}
first_valid_uid = {self.uid}
last_valid_uid = {self.uid}
first_valid_gid = {self.gid}
last_valid_gid = {self.gid}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.users_file}
}}
userdb {{
  driver = passwd-file
  args = {self.users_file}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    user = {self.user}
  }}
  unix_listener stats-writer {{
    user = {self.user}
  }}
}}
"""
        path = b / "dovecot.conf"
        path.write_text(conf)
        return path

    def _ssl_settings(self) -> str:
        if not self.tls:
            return "ssl = no"
        cert, key = self.base / "cert.pem", self.base / "key.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        return f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"

    @property
    def ca_file(self) -> Path:
        return self.base / "cert.pem"

    def new_user(self) -> ImapUser:
        """A user with an empty mailbox, from the pool written before the server started.

        Dovecot re-reads a changed passwd-file at most once a second, so a user added while it
        runs may be refused for a moment; the pool avoids that, and a user added past it is
        waited for.
        """
        if self._pool:
            return self._pool.pop(0)
        user = self._add_user()
        deadline = time.monotonic() + 5
        while True:
            try:
                user.client(folder=None).logout()
                return user
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _add_user(self, prefix: str = "u") -> ImapUser:
        self._counter += 1
        name = f"{prefix}{self._counter}-{secrets.token_hex(3)}"
        password = secrets.token_hex(8)
        home = self.base / "home" / name
        home.mkdir(parents=True)
        self._chown(home)
        with self.users_file.open("a") as f:
            f.write(f"{name}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{home}\n")
        return ImapUser(username=name, password=password, host=self.host, port=self.port)

    # -- process ---------------------------------------------------------------------------------

    def start(self, timeout: float = 20, *, pool: int = 60) -> None:
        for sub in ("run", "state", "home"):
            (self.base / sub).mkdir(exist_ok=True)
        self.users_file.touch()
        if not self._pool and self._counter == 0:
            self._pool = [self._add_user() for _ in range(pool)]
        config = self._write_config()
        for path in [self.base, *self.base.rglob("*")]:
            self._chown(path)
        cmd = [DOVECOT, "-c", str(config)]
        if self.as_root:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        # The daemon keeps whatever it inherits open: never a pipe, or run() waits for it forever.
        out = self.base / "start.out"
        with out.open("w") as sink:
            run = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, timeout=30)
        if run.returncode != 0:
            raise RuntimeError(f"dovecot did not start: {out.read_text(errors='replace')} {self.log()}")
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(200).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not accept connections: {self.log()}")
            time.sleep(0.05)
        self._pid = int((self.base / "run" / "master.pid").read_text().strip())

    def stop(self, timeout: float = 20) -> None:
        """Stop the master and every process it started (open IMAP sessions outlive the master)."""
        pid, self._pid = self._pid, None
        if pid is None:
            return
        children = self._children(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        self._wait_gone(pid, timeout)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
        for child in children:
            self._wait_gone(child, 5)

    @staticmethod
    def _children(pid: int) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def restart(self) -> None:
        """Stop and start again on the same port and mail (a server restart)."""
        self.stop()
        # The old master removes its pid file on exit; start only once it is gone.
        pid_file = self.base / "run" / "master.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.start()

    def log(self) -> str:
        try:
            return (self.base / "dovecot.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
