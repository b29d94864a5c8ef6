"""Shared pieces of the benchmarks: test mail, throwaway databases, the service as a subprocess.

Not a benchmark itself. Everything here is for the bench scripts only; the service's code is used
as it is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# --- test mail ------------------------------------------------------------------------------------

# (subject, one paragraph, charset): Latvian, Russian and English, UTF-8 and two legacy charsets.
TOPICS = [
    (
        "Neizvesti atkritumi",
        "Labdien! Jau otro nedēļu netiek izvesti atkritumi no Brīvības ielas {n}. "
        "Konteineri ir pārpildīti, un apkārt mētājas maisi. Lūdzu, pārbaudiet grafiku un atsūtiet mašīnu.",
        "utf-8",
    ),
    (
        "Нет горячей воды",
        "Здравствуйте, в квартире {n} нет горячей воды с понедельника. Соседи тоже жалуются, "
        "батареи еле тёплые. Прошу сообщить, когда будет устранена неисправность.",
        "koi8-r",
    ),
    (
        "Pothole on the street",
        "There is a large pothole in front of house {n}, please repair it. Two cars have "
        "already damaged their tyres there and it fills with water after rain.",
        "us-ascii",
    ),
    (
        "Rēķins par apkuri",
        "Lūdzu paskaidrot rēķinu par apkuri, līguma nr. {n}. Summa ir divreiz lielāka nekā "
        "pagājušajā mēnesī, lai gan laiks bija siltāks. Kāpēc tā?",
        "iso-8859-13",
    ),
    (
        "Sniegs nav notīrīts",
        "Mūsu ielā nav notīrīts sniegs, māja {n}. Ietve ir apledojusi, vecāki cilvēki "
        "nevar iziet no mājas. Lūdzu, nokaisiet ar smiltīm.",
        "utf-8",
    ),
    (
        "Tek jumts",
        "Dzīvoklī {n} tek jumts, lūdzu remontu. Pēc katra lietus griestos parādās jauns traips, "
        "un ūdens pil uz grīdas.",
        "utf-8",
    ),
    ("Jautājums", "Vēlos uzzināt jūsu darba laiku svētku dienās ({n})? Vai var atnākt sestdienā?", "utf-8"),
]


def mixed_message(
    n: int, *, size: int = 4096, token: str = "", reply_to: str | None = None, sender: str | None = None
) -> bytes:
    """A client e-mail of about ``size`` bytes on the wire.

    Every 5th carries a PDF-like attachment (about a third of the size), 2 in 7 are in a legacy
    charset (KOI8-R, ISO-8859-13), the rest UTF-8 or ASCII; each has its own sender and Message-ID.
    ``token`` goes into the subject (to find the message again in what the service sends);
    ``reply_to`` makes it a reply (In-Reply-To and References).
    """
    subject, paragraph, charset = TOPICS[n % len(TOPICS)]
    msg = EmailMessage()
    msg["From"] = f"Klients {n} <{sender or f'client{n}@client{n % 97}.example'}>"
    msg["To"] = "klienti@example.lv"
    msg["Subject"] = f"{'Re: ' if reply_to else ''}{subject} #{n}{' ' + token if token else ''}"
    msg["Date"] = format_datetime(datetime(2026, 11, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=n))
    msg["Message-ID"] = make_msgid(idstring=f"m{n}.{secrets.token_hex(4)}", domain=f"client{n % 97}.example")
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    with_attachment = n % 5 == 3
    # Body: the paragraph repeated (numbered) up to the size budget; attachments take a third.
    budget = (size - 700) * (2 if not with_attachment else 1) // (2 if not with_attachment else 3)
    encoding_factor = 1.35 if charset in ("utf-8", "koi8-r", "iso-8859-13") else 1.0  # QP/base64 growth
    lines: list[str] = []
    i = 0
    while sum(len(line) + 1 for line in lines) * encoding_factor < budget:
        i += 1
        lines.append(f"{i}. " + paragraph.format(n=n))
    lines.append("\n-- \nKlients " + str(n))
    msg.set_content("\n".join(lines), charset=charset if charset != "us-ascii" else "utf-8")
    if with_attachment:
        blob = (b"%PDF-1.4\n% fake scan " + str(n).encode() + b"\n") + secrets.token_bytes(size // 3 * 3 // 4)
        msg.add_attachment(blob, maintype="application", subtype="pdf", filename=f"akts-{n}.pdf")
    return msg.as_bytes()


# --- processes ------------------------------------------------------------------------------------


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so that finally blocks stop Dovecot, the service and drop databases."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def service_config(tmp: Path, *, http_port: int, smtp_port: int = 0, log_level: str = "WARNING") -> Path:
    """config.example.toml with its data in ``tmp`` and the given ports (as bench_webhooks.py does)."""
    config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    config = config.replace('data_dir = "var"', f'data_dir = "{tmp}/var"').replace("port = 8080", f"port = {http_port}")
    config = config.replace("port = 2525", f"port = {smtp_port}").replace(
        'log_level = "INFO"', f'log_level = "{log_level}"'
    )
    path = tmp / "config.toml"
    path.write_text(config, encoding="utf-8")
    return path


def twilio_env() -> dict[str, str]:
    from tests.twilio_helpers import ACCOUNT, PUBLIC, TOKEN

    twilio = {
        "ENABLED": "true",
        "ACCOUNT_SID": ACCOUNT,
        "AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": PUBLIC,
        "SMS_FROM": "+37167000001",
        "WHATSAPP_FROM": "+37167000000",
        "API_BASE_URL": "http://127.0.0.1:9",  # replies fail locally; never a real host
    }
    return {f"INGEST__TWILIO__{k}": v for k, v in twilio.items()}


def start_service(config: Path, env: dict[str, str], roles: str | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "serve", "--config", str(config), *(["--roles", roles] if roles else [])],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


# --- databases ------------------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database(server_url: str | None, label: str) -> Iterator[str]:
    """A fresh, empty database: SQLite in a temp dir, or a new database on the PostgreSQL server of
    ``server_url`` (its credentials; created here and dropped afterwards; the database the URL names
    is only used to connect and is never written to)."""
    if not server_url or server_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix=f"gk-bench-{label}-") as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"gk_bench_{label}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_settings(database_url: str, tmp: Path):  # type: ignore[no-untyped-def]
    """The example configuration on ``database_url`` with its data dir in ``tmp``."""
    from ingest.config import load_config, parse_config

    base = load_config(ROOT / "config.example.toml", env={})
    doc = base.model_dump(mode="json")
    doc["database"] = {**doc["database"], "url": database_url}
    doc["service"] = {**doc["service"], "data_dir": str(tmp / "var")}
    return parse_config(doc, base_dir=tmp, env={})


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    mem = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    load = Path("/proc/loadavg").read_text().split()[:3]
    return f"{os.cpu_count()} cores, {model}, {mem / 1048576:.0f} GiB RAM, load average {' '.join(load)}"
