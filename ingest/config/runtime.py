"""Configuration sections for running the service: paths, database, HTTP, work queues, cluster, retention."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ingest.config.fields import Localized, Section, check_zone


class ServiceSettings(Section):
    # The office's name as it signs to clients: one text or {lv = "…", ru = "…", en = "…"}.
    name: Localized = "Klientu apkalpošana"
    timezone: str = "Europe/Riga"
    # Relative paths in the config are taken from the config file's folder.
    data_dir: Path = Path("var")
    reference_prefix: str = "GK"
    # A larger attachment is recorded (name, type, size) as omitted, never silently lost.
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # How a client puts a request in writing (policy clause 10.2), told after a logged phone call
    # or visit: the address for written requests (empty: outgoing_mail.from_address), the postal
    # address, and where and when the office receives visitors. Empty lines are left out.
    written_requests_email: str = ""
    postal_address: str = ""
    visiting_address: str = ""
    visiting_hours: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_zone(value)


class DatabaseSettings(Section):
    # Empty means SQLite in data_dir.
    url: str = ""
    pool_size: int = Field(default=20, ge=1, le=500)

    @field_validator("url")
    @classmethod
    def _parsable(cls, value: str) -> str:
        return check_database_url(value)


# The databases the service runs on (storage/db.py); the URL names one of them with a driver.
DATABASE_BACKENDS = ("sqlite", "postgresql")


def check_database_url(value: str) -> str:
    """The URL as given, if SQLAlchemy can parse it and it names SQLite or PostgreSQL.

    The message never repeats the URL: it may hold a password.
    """
    if not value:
        return value
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
        port = url.port
    except (ArgumentError, ValueError):
        raise ValueError("not a database URL like postgresql+psycopg://user@host:5432/name") from None
    if url.get_backend_name() not in DATABASE_BACKENDS:
        raise ValueError(f"unsupported database {url.get_backend_name()!r}; use sqlite or postgresql")
    if port is not None and not 0 < port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return value


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The dashboard's session cookie only over https; set it when the service is behind a TLS proxy.
    secure_cookies: bool = False
    # A dashboard session ends after this long without a request (and 12 h after its login at most).
    dashboard_idle_minutes: int = Field(default=480, ge=5, le=720)
    # The reverse proxies (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are
    # believed: the client's address in the audit log comes from them. Empty: nobody's, not even
    # 127.0.0.1's, so a client cannot write its own address into the audit log.
    trusted_proxies: list[str] = Field(default_factory=list)
    # When set, /metrics answers only a request with "Authorization: Bearer <token>" (put it in the
    # environment: INGEST__HTTP__METRICS_TOKEN). Empty: /metrics is open, as before.
    metrics_token: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value


class RetrySettings(Section):
    poll_seconds: float = Field(default=5, gt=0)
    max_attempts: int = Field(default=10, ge=1)
    backoff_base_seconds: float = Field(default=30, ge=0)
    backoff_max_seconds: float = Field(default=3600, ge=0)
    batch_size: int = Field(default=100, ge=1)
    # A claimed item (an outgoing message, a media download) whose process died is taken again
    # after this long; longer than any one delivery may take.
    lease_seconds: float = Field(default=300, gt=0)


class PipelineSettings(RetrySettings):
    # Processes beside the service's own that parse receipts and read their text for routing
    # (ingest/pipeline/prepare.py); 0: done in the service's process. Unset: one less than the
    # machine's cores, at most 4.
    prepare_processes: int | None = Field(default=None, ge=0, le=32)

    def preparing_processes(self, cores: int | None) -> int:
        if self.prepare_processes is not None:
            return self.prepare_processes
        return max(0, min(4, (cores or 1) - 1))


Role = Literal["web", "worker", "imap", "scheduler"]
# What one process can run; see ClusterSettings.
ROLES: tuple[Role, ...] = ("web", "worker", "imap", "scheduler")


class ClusterSettings(Section):
    """Several service processes on one PostgreSQL database."""

    # What this process runs: "web" (the SMTP listener and the webhooks; /health and /metrics are
    # served by every process), "worker" (pipeline and outbox), "imap" (the IMAP poller) and
    # "scheduler" (deadline reminders, escalations, digests). The last two run in one process at
    # a time, whichever holds the database lock for them; the others stand by and take over.
    roles: list[Role] = Field(default_factory=lambda: list(ROLES), min_length=1)
    # How often a standing-by process tries to take over a one-at-a-time role.
    leader_retry_seconds: float = Field(default=5, gt=0)


class RetentionSettings(Section):
    """How long client data is kept (policy clause 5.5, GDPR storage limitation)."""

    # Run the daily job at all (the scheduler process runs it; `ingest retention run` by hand).
    enabled: bool = True
    # Closed and answered inquiries with no activity for this many months are anonymised: texts,
    # names, addresses and attachments go, the statistical skeleton stays. 0 keeps them for ever.
    anonymise_closed_after_months: int = Field(default=36, ge=0)
    # The raw bytes of processed receipts (the original e-mail or webhook body) are only needed
    # for replay and debugging: emptied after this many days. 0 keeps them.
    keep_raw_receipts_days: int = Field(default=90, ge=0)
    # Local hour (service timezone) at which the daily job runs.
    hour: int = Field(default=3, ge=0, le=23)
