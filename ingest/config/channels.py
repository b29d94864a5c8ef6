"""Configuration sections of the channels: SMTP and IMAP in, mail out, Twilio, WhatsApp Cloud API, phone calls."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ingest.config.fields import EmailAddress, Localized, Section, check_zone


class SmtpListenerSettings(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    # Only mail for these addresses is accepted; anything else gets 550.
    recipients: list[EmailAddress] = Field(default_factory=list)
    max_message_bytes: int = Field(default=30 * 1024 * 1024, ge=1024)
    # A message is held in memory while it arrives up to this size; beyond it, it is written to a
    # file under the data folder (var/smtp-spool/) and stored from there. 0: every message to disk.
    spool_above_bytes: int = Field(default=1024 * 1024, ge=0)
    # Sessions open at once and recipients per message; over either, the sending server is told
    # to try again later (421 / 452).
    max_sessions: int = Field(default=20, ge=1, le=1000)
    max_recipients: int = Field(default=10, ge=1, le=1000)
    # The longest line of a message taken (RFC 5321 says 1,000 bytes; Postfix and Exim take more).
    max_line_bytes: int = Field(default=65536, ge=1001, le=16 * 1024 * 1024)

    @field_validator("recipients")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]


class SmtpSubmissionSettings(Section):
    """The submission port: staff send their replies here with SMTP AUTH (PLAIN, LOGIN), as their
    dashboard employee key (or e-mail address) and password. A reply whose authenticated employee
    is its author counts as theirs when ``[staff_replies] accept`` holds "submission". Messages are
    bounded as on ``[smtp_listener]`` (its recipients and limits), and refused (530) before AUTH.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=0, le=65535)
    # STARTTLS with this certificate chain and key (PEM files, absolute paths); required before
    # AUTH, so the password never crosses the network in clear.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # AUTH without TLS, allowed only on a loopback host (a TLS proxy on the same machine, tests).
    allow_plaintext: bool = False
    max_sessions: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _safe(self) -> SmtpSubmissionSettings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file and tls_key_file: both or neither")
        if self.allow_plaintext and not is_loopback(self.host):
            raise ValueError(f"allow_plaintext: only on a loopback host (127.0.0.1, ::1, localhost), not {self.host!r}")
        if self.enabled and not self.tls_cert_file and not self.allow_plaintext:
            raise ValueError("enabled: needs tls_cert_file and tls_key_file (STARTTLS), or allow_plaintext on loopback")
        return self


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip()).is_loopback
    except ValueError:
        return False


class EmailIntakeSettings(Section):
    """Mail in, whichever receiver brought it (SMTP or IMAP)."""

    # Senders whose mail is never an inquiry (newsletters the office subscribed to): glob
    # patterns on the From address, case-insensitive ("*@news.example.lv", "info@portal.example").
    # Such mail is kept as automatic, listed in the workspace, where staff can still open an inquiry.
    never_inquiry_senders: list[str] = Field(default_factory=list)

    @field_validator("never_inquiry_senders")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value if v.strip()]


class OutgoingMailSettings(Section):
    from_address: EmailAddress = "klienti@example.lv"
    # The sender's name on e-mail: one text or one per client language, like [service] name.
    from_name: Localized = "Klientu apkalpošana"
    # Empty relay_host: nothing is sent, each message is written to `folder` as an .eml file.
    relay_host: str = ""
    relay_port: int = Field(default=25, ge=1, le=65535)
    username: str = ""
    password: str = ""
    security: Literal["none", "starttls", "tls"] = "none"
    timeout_seconds: float = Field(default=30, gt=0)
    folder: Path = Path("outgoing-mail")


class StaffReplySettings(Section):
    """What proves that a reply to a notification is the employee's (ingest/pipeline/staff_proof.py).

    Nothing accepted (the default): no reply by e-mail is sent on to a client or closes an inquiry;
    it is kept as an internal note and its author told why.
    """

    # "dkim": a valid DKIM signature of the sender's (staff) domain. "authentication-results": the
    # topmost Authentication-Results header of `authserv_id` says dkim=pass header.d=<staff domain>
    # or dmarc=pass header.from=<staff domain>.
    # "submission": sent over an authenticated session of [smtp_submission] by the employee who
    # wrote it (the session's employee is the reply's From).
    accept: list[Literal["dkim", "authentication-results", "submission"]] = Field(default_factory=list)
    # The authserv-id the office's own mail server writes into its Authentication-Results headers.
    authserv_id: str = ""
    # Domains staff write from. Empty: the domains of the configured employees' addresses.
    staff_domains: list[str] = Field(default_factory=list)
    # DKIM keys used instead of DNS ("selector._domainkey.example.lv" = "v=DKIM1; k=rsa; p=...").
    # When any is given, DNS is not asked at all.
    dkim_keys: dict[str, str] = Field(default_factory=dict)
    # A reply address stops working this many days after its inquiry was closed.
    token_grace_days: int = Field(default=14, ge=0, le=3650)

    @field_validator("staff_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [v.strip().lower().rstrip(".") for v in value]

    @model_validator(mode="after")
    def _consistent(self) -> StaffReplySettings:
        if "authentication-results" in self.accept and not self.authserv_id.strip():
            raise ValueError('authserv_id: needed when accept holds "authentication-results"')
        return self


class ImapSettings(Section):
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


class TwilioSettings(Section):
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


class WhatsAppCloudSettings(Section):
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


# At most 30 working days or 240 working hours: anything later than that is history, not a call to
# return, and the bound lets the importer skip the calendar for calls months old.
_WINDOW = re.compile(r"^\s*(?P<n>[0-9]{1,3})\s+working\s+(?P<unit>day|days|hour|hours)\s*$", re.IGNORECASE)
_WINDOW_MAX = {"days": 30, "hours": 240}


def parse_callback_window(text: str) -> tuple[int, str] | None:
    """``"2 working days"`` -> ``(2, "days")``; ``"off"`` -> None; anything else is a ValueError."""
    if text.strip().lower() == "off":
        return None
    found = _WINDOW.match(text)
    if found is None:
        raise ValueError(f'{text!r}: write "N working days", "N working hours" or "off"')
    amount, unit = int(found["n"]), found["unit"].lower().rstrip("s") + "s"
    if not 1 <= amount <= _WINDOW_MAX[unit]:
        raise ValueError(f"{text!r}: from 1 to {_WINDOW_MAX[unit]} working {unit}")
    return amount, unit


class CallsSettings(Section):
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
    # An imported missed call older than this opens no call-back inquiry and sends nothing (it is
    # stored and counted): "N working day(s)" on the office's calendar, i.e. until the end of the
    # N-th working day after the call, when a call back would have been due; "N working hour(s)";
    # or "off" (every missed call opens one).
    callback_window: str = "1 working day"
    # Twilio Voice status callbacks (mounted with the [twilio] webhooks, same signature check).
    voice_status_path: str = Field(default="/webhooks/twilio/voice-status", pattern=r"^/[^?#\s]*$")

    @field_validator("internal_numbers")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("callback_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_callback_window(value)
        return value.strip()

    def callback_window_span(self) -> tuple[int, str] | None:
        """``(amount, "days" | "hours")`` of working time, or None when the window is off."""
        return parse_callback_window(self.callback_window)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value) if value else value

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
