"""Configuration: one TOML file, any value overridable from the environment.

Environment variables win over the file, so secrets never need to be written
into it: ``INGEST__DATABASE__URL``, ``INGEST__OUTGOING_MAIL__PASSWORD`` and so
on (section and key joined by double underscores). The whole configuration is
validated at start-up; a problem becomes a :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "INGEST__"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_address(value: str) -> str:
    value = value.strip()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or "." not in domain or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return local + "@" + domain.lower()


EmailAddress = Annotated[str, AfterValidator(_check_address)]


class ServiceSettings(_Section):
    name: str = "Klientu apkalpošana"
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
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class DatabaseSettings(_Section):
    # Empty means SQLite in data_dir.
    url: str = ""
    pool_size: int = Field(default=20, ge=1, le=500)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The dashboard's session cookie only over https; set it when the service is behind a TLS proxy.
    secure_cookies: bool = False
    # A dashboard session ends after this long without a request (and 12 h after its login at most).
    dashboard_idle_minutes: int = Field(default=480, ge=5, le=720)


class SmtpListenerSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    # Only mail for these addresses is accepted; anything else gets 550.
    recipients: list[EmailAddress] = Field(default_factory=list)
    max_message_bytes: int = Field(default=30 * 1024 * 1024, ge=1024)

    @field_validator("recipients")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]


class OutgoingMailSettings(_Section):
    from_address: EmailAddress = "klienti@example.lv"
    from_name: str = "Klientu apkalpošana"
    # Empty relay_host: nothing is sent, each message is written to `folder` as an .eml file.
    relay_host: str = ""
    relay_port: int = Field(default=25, ge=1, le=65535)
    username: str = ""
    password: str = ""
    security: Literal["none", "starttls", "tls"] = "none"
    timeout_seconds: float = Field(default=30, gt=0)
    folder: Path = Path("outgoing-mail")


class ImapSettings(_Section):
    """A mailbox the service reads with IMAP (next to, or instead of, the SMTP listener)."""

    enabled: bool = False
    host: str = ""
    port: int = Field(default=993, ge=1, le=65535)
    # "tls" (implicit TLS, port 993), "starttls" (port 143), or "none" (only with allow_plaintext).
    security: Literal["tls", "starttls", "none"] = "tls"
    # Unencrypted IMAP sends the password in clear; allowed only when said so (loopback, tests).
    allow_plaintext: bool = False
    # A PEM file of CA certificates to trust instead of the system's (a server with a private CA).
    tls_ca_file: str = ""
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    # What is done to a message on the server once it is stored: "flag" (add processed_flag),
    # "seen" (add \Seen) or "move" (to move_to). Messages are never deleted.
    processed_action: Literal["flag", "seen", "move"] = "flag"
    processed_flag: str = Field(default="$GkIngested", pattern=r"^[^\s()\{\]%*\"\\]+$")
    move_to: str = ""
    # Used when the server offers no IDLE.
    poll_seconds: float = Field(default=60, gt=0)
    # IDLE is ended and issued again at least this often (RFC 2177: under 29 minutes).
    idle_seconds: float = Field(default=600, gt=0, le=1740)
    batch_size: int = Field(default=200, ge=1, le=5000)
    # Reconnecting after a network error waits 1 s, 2 s, 4 s, ... up to this.
    reconnect_max_seconds: float = Field(default=300, gt=0)
    timeout_seconds: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> ImapSettings:
        if not self.enabled:
            return self
        if not self.host:
            raise ValueError("host: needed when enabled")
        if not self.username:
            raise ValueError("username: needed when enabled")
        if self.security == "none" and not self.allow_plaintext:
            raise ValueError(
                'security: "none" sends the password unencrypted; use "tls" or "starttls", '
                "or set allow_plaintext = true (loopback only)"
            )
        if self.processed_action == "move":
            if not self.move_to:
                raise ValueError('move_to: needed when processed_action is "move"')
            if self.move_to == self.folder:
                raise ValueError("move_to: must differ from folder")
        return self

    def mailbox_key(self) -> str:
        """Identifies the mailbox whose position is stored: user@host:port/folder."""
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"


class TwilioSettings(_Section):
    """WhatsApp and SMS through Twilio: the inbound webhook, status callbacks and sending."""

    enabled: bool = False
    account_sid: str = ""
    # Signs the webhooks and authenticates API calls; set it through INGEST__TWILIO__AUTH_TOKEN.
    auth_token: str = ""
    # The public base URL Twilio calls (scheme, host, optional port and path prefix), as
    # configured in the Twilio console: the signature covers the exact URL Twilio used.
    public_base_url: str = ""
    # Behind a reverse proxy that sets X-Forwarded-Proto / -Host / -Port: take the public
    # scheme, host and port from them instead (only when the proxy overwrites client values).
    trust_forwarded_headers: bool = False
    inbound_path: str = Field(default="/webhooks/twilio/messages", pattern=r"^/[^?#\s]*$")
    status_path: str = Field(default="/webhooks/twilio/status", pattern=r"^/[^?#\s]*$")
    # Larger webhook bodies are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    # Sending: a Messaging Service SID, or the sender numbers per channel (E.164).
    messaging_service_sid: str = ""
    sms_from: str = ""
    whatsapp_from: str = ""
    # The REST API's base URL; empty: the twilio library's default.
    api_base_url: str = ""
    timeout_seconds: float = Field(default=15, gt=0)
    # Ask Twilio for delivery status callbacks at public_base_url + status_path when sending.
    status_callbacks: bool = True
    # Media a client sends (MediaUrlN) larger than this is not downloaded; 0: service.max_attachment_bytes.
    media_max_bytes: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> TwilioSettings:
        if not self.enabled:
            return self
        if not self.account_sid:
            raise ValueError("account_sid: needed when enabled")
        if not self.auth_token:
            raise ValueError("auth_token: needed when enabled (set INGEST__TWILIO__AUTH_TOKEN)")
        if not self.public_base_url and not self.trust_forwarded_headers:
            raise ValueError(
                "public_base_url: needed when enabled (the URL Twilio calls), unless trust_forwarded_headers = true"
            )
        if self.public_base_url and not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError("public_base_url: must start with http:// or https://")
        if self.api_base_url and not self.api_base_url.startswith(("http://", "https://")):
            raise ValueError("api_base_url: must start with http:// or https://")
        if self.inbound_path == self.status_path:
            raise ValueError("status_path: must differ from inbound_path")
        return self


class WhatsAppCloudSettings(_Section):
    """WhatsApp through Meta's Cloud API: the webhook (a second WhatsApp provider beside Twilio)."""

    enabled: bool = False
    # The Meta app's secret: signs every webhook POST (X-Hub-Signature-256); set it through
    # INGEST__WHATSAPP_CLOUD__APP_SECRET.
    app_secret: str = ""
    # The token typed into the app's webhook settings, checked on the GET handshake; set it
    # through INGEST__WHATSAPP_CLOUD__VERIFY_TOKEN.
    verify_token: str = ""
    path: str = Field(default="/webhooks/whatsapp-cloud", pattern=r"^/[^?#\s]*$")
    # Larger webhook bodies are refused with 413 before they are parsed (Meta may batch several
    # messages and statuses in one POST, so this is larger than Twilio's limit).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=10 * 1024 * 1024)

    @model_validator(mode="after")
    def _consistent(self) -> WhatsAppCloudSettings:
        if self.enabled and not self.app_secret:
            raise ValueError("app_secret: needed when enabled (set INGEST__WHATSAPP_CLOUD__APP_SECRET)")
        if self.enabled and not self.verify_token:
            raise ValueError("verify_token: needed when enabled (set INGEST__WHATSAPP_CLOUD__VERIFY_TOKEN)")
        return self


class CallsSettings(_Section):
    """The phone channel (policy clause 6.3): missed calls become "call back" inquiries."""

    # Callers matching this regular expression are the office's own extensions: their calls
    # never become inquiries (and ingest import-calls skips them). Default: 4 digits or fewer.
    internal_numbers: str = r"^\d{1,4}$"
    # Times without a zone in imported files are in this zone; empty: [service] timezone.
    timezone: str = ""
    # Asterisk Master.csv: the dispositions of a missed call, and its date format.
    asterisk_missed: list[str] = Field(default_factory=lambda: ["NO ANSWER", "BUSY", "FAILED", "CONGESTION"])
    asterisk_date_format: str = "%Y-%m-%d %H:%M:%S"
    # A generic CSV export (with a header row): our names -> the file's column names. "from" and
    # "start" are needed, and "status" or "answered"; without "call_id" a row is identified by
    # the hash of its fields.
    csv_columns: dict[str, str] = Field(
        default_factory=lambda: {
            "call_id": "id",
            "from": "from",
            "to": "to",
            "start": "start",
            "duration": "duration",
            "status": "status",
        }
    )
    csv_date_format: str = "%Y-%m-%d %H:%M:%S"  # or "iso" (ISO 8601, with or without a zone)
    csv_delimiter: str = Field(default=",", min_length=1, max_length=1)
    # Values of the "status" column (any case) that mean nobody answered.
    csv_missed_statuses: list[str] = Field(
        default_factory=lambda: ["missed", "no answer", "no-answer", "busy", "failed", "canceled", "neatbildēts"]
    )
    # Receipts stored per transaction by ingest import-calls.
    batch_size: int = Field(default=500, ge=1, le=10000)
    # Twilio Voice status callbacks (mounted with the [twilio] webhooks, same signature check).
    voice_status_path: str = Field(default="/webhooks/twilio/voice-status", pattern=r"^/[^?#\s]*$")

    @field_validator("internal_numbers")
    @classmethod
    def _regex(cls, value: str) -> str:
        import re

        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("csv_columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        known = {"call_id", "from", "to", "start", "answered", "duration", "status", "caller_name"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown column name {unknown[0]!r}; use {', '.join(sorted(known))}")
        if "from" not in value or "start" not in value:
            raise ValueError('"from" and "start" must be mapped')
        if "status" not in value and "answered" not in value:
            raise ValueError('"status" or "answered" must be mapped')
        return value


class RetrySettings(_Section):
    poll_seconds: float = Field(default=5, gt=0)
    max_attempts: int = Field(default=10, ge=1)
    backoff_base_seconds: float = Field(default=30, ge=0)
    backoff_max_seconds: float = Field(default=3600, ge=0)
    batch_size: int = Field(default=100, ge=1)
    # A claimed item (an outgoing message, a media download) whose process died is taken again
    # after this long; longer than any one delivery may take.
    lease_seconds: float = Field(default=300, gt=0)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _check_hours(value: str) -> str:
    from router.calendar import Hours

    try:
        Hours.parse(value)
    except ValueError as exc:
        raise ValueError(f'{value!r} is not a span like "08:00-17:00" ({exc})') from None
    return value


HoursText = Annotated[str, AfterValidator(_check_hours)]


class WorkingTimeSettings(_Section):
    # Opening hours per weekday, "HH:MM-HH:MM"; a weekday not listed is not worked.
    hours: dict[str, HoursText] = Field(default_factory=lambda: {d: "08:00-17:00" for d in WEEKDAYS[:5]})
    # Hours on a Saturday worked in exchange for a day off moved by the Cabinet.
    transferred_workday_hours: HoursText = "08:00-17:00"
    # The working day before a public holiday is shorter (Labour Law, section 134).
    pre_holiday_shortening_minutes: int = Field(default=60, ge=0, le=480)
    simple_working_days: int = Field(default=1, ge=1)
    complex_working_days: int = Field(default=2, ge=1)

    @field_validator("hours")
    @classmethod
    def _weekday_names(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}")
        if not value:
            raise ValueError("at least one weekday must be worked")
        return value


class EmployeeSettings(_Section):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    name: str
    surname: str
    position: str
    email: EmailAddress
    phone: str | None = None
    location: str | None = None
    reception_hours: str | None = None
    languages: list[str] = Field(default_factory=lambda: ["lv"])
    supervisor: str | None = None
    deputy: str | None = None
    active: bool = True
    # What the staff API allows: "employee" (the inquiries they handle), "supervisor" (all but
    # complaints), "board" (everything), "admin" (tokens and absences, no inquiry content). The
    # routing.board_member is "board" whatever this says.
    role: Literal["employee", "supervisor", "board", "admin"] = "employee"


class TopicSettings(_Section):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    name: str
    keywords: list[str] = Field(min_length=1)
    employees: list[str] = Field(min_length=1)
    complexity: Literal["simple", "complex"] = "simple"


class KindSettings(_Section):
    """Keywords that make an inquiry a complaint, a suggestion, a request or a question.

    Tried in that order; with no keyword, a message with a question mark is a
    question and anything else a request.
    """

    complaint: list[str] = Field(default_factory=list)
    suggestion: list[str] = Field(default_factory=list)
    request: list[str] = Field(default_factory=list)
    question: list[str] = Field(default_factory=list)


class ComplexitySettings(_Section):
    """Signals that make an inquiry complex (2 working days) besides its topic's default."""

    long_text_chars: int = Field(default=1500, ge=1)
    attachments_make_complex: bool = True
    several_topics_make_complex: bool = True


class AbsenceSettings(_Section):
    employee: str
    start: date
    end: date
    reason: Literal["leave", "sick", "training", "other"] = "leave"

    @model_validator(mode="after")
    def _order(self) -> AbsenceSettings:
        if self.end < self.start:
            raise ValueError("end comes before start")
        return self


class DeadlineSettings(_Section):
    # A reminder to the employee when this share of the working time to the due date is left
    # (0 turns it off); another when the due day opens.
    reminder_share_left: float = Field(default=0.25, ge=0, lt=1)
    # When the deadline passes, the employee's supervisor is told; after this many further working
    # hours, the board member.
    board_after_working_hours: float = Field(default=8, gt=0)
    # How often the deadlines are checked.
    sweep_seconds: float = Field(default=60, gt=0)


# What one process can run; see ClusterSettings.
ROLES = ("web", "worker", "imap", "scheduler")


class ClusterSettings(_Section):
    """Several service processes on one PostgreSQL database."""

    # What this process runs: "web" (the SMTP listener and the webhooks; /health and /metrics are
    # served by every process), "worker" (pipeline and outbox), "imap" (the IMAP poller) and
    # "scheduler" (deadline reminders, escalations, digests). The last two run in one process at
    # a time, whichever holds the database lock for them; the others stand by and take over.
    roles: list[Literal["web", "worker", "imap", "scheduler"]] = Field(
        default_factory=lambda: list(ROLES), min_length=1
    )
    # How often a standing-by process tries to take over a one-at-a-time role.
    leader_retry_seconds: float = Field(default=5, gt=0)


class RetentionSettings(_Section):
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


class ClientMessageSettings(_Section):
    # Send the client an acknowledgement naming the employee and the answer date (clauses 8, 9).
    acknowledge: bool = True
    # At most one acknowledgement per address within this many minutes, so that two
    # auto-responders cannot keep each other busy.
    ack_window_minutes: int = Field(default=15, ge=0)
    # A folder with edited copies of the templates in ingest/templates; looked in first.
    templates_dir: Path | None = None


class RoutingSettings(_Section):
    # The customer-service coordinator: gets whatever matches no topic.
    fallback_employee: str
    board_member: str | None = None


class Settings(_Section):
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    smtp_listener: SmtpListenerSettings = Field(default_factory=SmtpListenerSettings)
    outgoing_mail: OutgoingMailSettings = Field(default_factory=OutgoingMailSettings)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    pipeline: RetrySettings = Field(default_factory=RetrySettings)
    outbox: RetrySettings = Field(default_factory=lambda: RetrySettings(poll_seconds=10, max_attempts=12))
    # Downloading Twilio media: retried with growing pauses, then given up (listed by `ingest doctor`).
    media_fetch: RetrySettings = Field(
        default_factory=lambda: RetrySettings(poll_seconds=30, max_attempts=8, backoff_base_seconds=10, batch_size=20)
    )
    working_time: WorkingTimeSettings = Field(default_factory=WorkingTimeSettings)
    routing: RoutingSettings
    employees: list[EmployeeSettings] = Field(min_length=1)
    topics: list[TopicSettings] = Field(default_factory=list)
    deadlines: DeadlineSettings = Field(default_factory=DeadlineSettings)
    client_messages: ClientMessageSettings = Field(default_factory=ClientMessageSettings)
    kinds: KindSettings = Field(default_factory=KindSettings)
    complexity: ComplexitySettings = Field(default_factory=ComplexitySettings)
    # Known absences (leave, sick days); staff can also enter them through the API.
    absences: list[AbsenceSettings] = Field(default_factory=list)
    # WhatsApp and SMS through Twilio (off by default).
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    # WhatsApp through Meta's Cloud API (off by default).
    whatsapp_cloud: WhatsAppCloudSettings = Field(default_factory=WhatsAppCloudSettings)
    # The phone channel: missed calls from Twilio Voice or imported call logs.
    calls: CallsSettings = Field(default_factory=CallsSettings)
    # Which roles this process runs, and taking over one-at-a-time roles.
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    # Retention: anonymising old closed inquiries, emptying old raw receipts.
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        keys = [e.key for e in self.employees]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"employees: duplicate key {duplicates[0]!r}")
        known = set(keys)

        def need(where: str, key: str | None) -> None:
            if key is not None and key not in known:
                raise ValueError(f"{where}: unknown employee {key!r}")

        need("routing.fallback_employee", self.routing.fallback_employee)
        need("routing.board_member", self.routing.board_member)
        # Both webhooks on one path: the first mounted would answer the other's requests (403).
        if (
            self.whatsapp_cloud.enabled
            and self.twilio.enabled
            and self.whatsapp_cloud.path
            in (self.twilio.inbound_path, self.twilio.status_path, self.calls.voice_status_path)
        ):
            raise ValueError("whatsapp_cloud.path: must differ from the Twilio webhook paths")
        for i, emp in enumerate(self.employees):
            need(f"employees[{i}].supervisor", emp.supervisor)
            need(f"employees[{i}].deputy", emp.deputy)
        topic_keys = [t.key for t in self.topics]
        for i, topic in enumerate(self.topics):
            if topic_keys.count(topic.key) > 1:
                raise ValueError(f"topics[{i}].key: duplicate topic {topic.key!r}")
            for emp_key in topic.employees:
                need(f"topics[{i}].employees", emp_key)
        for i, absence in enumerate(self.absences):
            need(f"absences[{i}].employee", absence.employee)
        return self

    def employee(self, key: str) -> EmployeeSettings:
        for emp in self.employees:
            if emp.key == key:
                return emp
        raise KeyError(key)

    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.service.data_dir / 'ingest.sqlite3'}"

    def outgoing_folder(self) -> Path:
        folder = self.outgoing_mail.folder
        return folder if folder.is_absolute() else self.service.data_dir / folder


def _format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in item["loc"]).replace(".[", "[")
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    data_dir = settings.service.data_dir
    if not data_dir.is_absolute():
        settings.service.data_dir = (base / data_dir).resolve()
    templates = settings.client_messages.templates_dir
    if templates is not None and not templates.is_absolute():
        settings.client_messages.templates_dir = (base / templates).resolve()
    return settings


def _overlay_env(document: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Apply INGEST__SECTION__KEY=value variables on top of the file's values.

    A value that starts with ``[`` or ``{`` is read as JSON (a list, a table);
    anything else stays a string, which pydantic converts like a value from the
    file ("8080" to a port, "false" to a boolean) and reports when it cannot.
    """
    merged = copy.deepcopy(document)
    for name, raw in sorted(env.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        value: Any = raw
        if raw.lstrip().startswith(("[", "{")):
            try:
                value = json.loads(raw)
            except ValueError:
                raise ConfigError(f"{name}: not valid JSON") from None
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return merged


def parse_config(document: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Validate a configuration document; env overrides (INGEST__...) apply on top."""
    merged = _overlay_env(dict(document), os.environ if env is None else env)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from None
    return _resolve_paths(settings, base_dir)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the TOML file at ``path``."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(document, base_dir=path.resolve().parent, env=env)
