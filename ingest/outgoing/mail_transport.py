"""Sending an e-mail: through an SMTP relay, or into a folder when there is none."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy, quoprimime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ingest.outgoing.mail_bytes import message_bytes
from ingest.queues.runner import QueueFailure

if TYPE_CHECKING:
    from ingest.outgoing.rendered_mail import RenderedMail

log = logging.getLogger(__name__)

# Unicode's Cc (control characters) and the line and paragraph separators (Zl, Zp).
_UNSAFE_IN_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class TemporaryFailure(QueueFailure):
    """Try again later: the relay is down, busy, or answered 4xx."""


class PermanentFailure(QueueFailure):
    """Retrying cannot help: the relay answered 5xx."""

    final = True


class MailTransport(Protocol):
    def send(self, message: EmailMessage, *, name: str) -> None:
        """Deliver one message; raise TemporaryFailure or PermanentFailure. A transport that also
        has ``send_rendered(mail, *, name)`` is handed the mail rendered beforehand, in the
        preparing pool (ingest/outgoing/rendered_mail.py), and delivers it as ``send`` would."""
        ...

    def describe(self) -> str: ...


def write_atomically(path: Path, data: bytes) -> None:
    """Write then rename, so a half-written file never appears under the final name; a failed write
    (disk full) leaves no partial file behind to fill the disk further. The temporary name is this
    process's and thread's own (``mkstemp``'s random names cost as much as the write)."""
    tmp = path.with_name(f".tmp-{path.stem}-{os.getpid()}-{threading.get_ident()}{path.suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def header_text(value: object) -> str:
    """Client text made safe for a header: control characters (CR, LF, NUL, ESC, ...) and Unicode
    line separators become spaces, runs of space one. Client text can never start a header of its own."""
    text = str(value or "")
    if not (text.isascii() and text.isprintable()):
        text = _UNSAFE_IN_HEADER.sub(" ", text)
    return " ".join(text.split())


def message_id_text(value: object) -> str:
    """A Message-ID without its brackets: visible ASCII only, never a bracket, space or line break."""
    return "".join(ch for ch in str(value or "") if "!" <= ch <= "~" and ch not in "<>")


def set_subject(message: EmailMessage, subject: str) -> None:
    """The Subject so that every decoder gives back exactly ``subject``.

    The standard library's own folding of a non-ASCII subject can end one encoded word just before
    a space and start the next after it; decoders then drop that space, as RFC 2047 says they must
    between two encoded words ("atbildēt līdz" read as "atbildētlīdz"). ``Header`` keeps every
    space inside an encoded word; the folded text is stored as it is (``set_raw``) and, with lines
    under the limit, written out unchanged.
    """
    if subject.isascii():
        _put(message, "Subject", subject)
        return
    message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n"))


def build_email(payload: dict[str, Any]) -> EmailMessage:
    """The same message, byte for byte in its headers, every time the payload is sent.

    Every header value goes through ``header_text`` here, whatever the payload's author did: a
    subject or name with CR/LF would otherwise add headers (or, with this policy, fail the send).
    Headers are stored as finished text (``set_raw``, see :func:`_put`): the standard library's
    header objects cost several milliseconds per message to build and fold, a third of a
    notification's whole cost, for text that needs no parsing.
    """
    message = EmailMessage(policy=policy.SMTP)
    from_name, from_addr = payload["from"]
    to_name, to_addr = payload["to"]
    _put_address(message, "From", from_name, from_addr)
    _put_address(message, "To", to_name, to_addr)
    set_subject(message, header_text(payload["subject"]))
    _put(message, "Date", header_text(payload["date"]))
    _put(message, "Message-ID", f"<{message_id_text(payload['message_id'])}>")
    in_reply_to = message_id_text(payload.get("in_reply_to"))
    if in_reply_to:
        _put(message, "In-Reply-To", f"<{in_reply_to}>")
        _put(message, "References", f"<{in_reply_to}>")
    headers = {header_text(k): header_text(v) for k, v in dict(payload.get("headers", {})).items()}
    # RFC 3834: marks our mail as automatic so that well-behaved auto-responders stay quiet.
    _put(message, "Auto-Submitted", headers.pop("Auto-Submitted", "auto-generated"))
    _put(message, "X-Auto-Response-Suppress", "All")
    for key, value in headers.items():
        # A header name is ours (Reply-To, X-Inquiry-Reference); one that is not a plain token is dropped.
        if key and all("!" <= ch <= "~" and ch != ":" for ch in key):
            _put(message, key, value)
    # Quoted-printable keeps the message 7-bit, so no relay has to support 8BITMIME; the same
    # headers and body as ``set_content(text, charset="utf-8", cte="quoted-printable")``.
    lines = str(payload["text"]).encode("utf-8").splitlines()
    message.set_raw("Content-Type", 'text/plain; charset="utf-8"')
    message.set_raw("Content-Transfer-Encoding", "quoted-printable")
    message.set_raw("MIME-Version", "1.0")
    message.set_payload(quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), 78))
    return message


def _put(message: EmailMessage, name: str, value: str) -> None:
    """A header whose value is plain ASCII text stored as it is (the generator folds it only when
    a line is too long); anything else through the standard library's header objects."""
    if value.isascii():
        message.set_raw(name, value)
    else:
        message[name] = value


def _put_address(message: EmailMessage, header: str, name: object, address: object) -> None:
    """``Name <address>``, checked and encoded as the standard library's ``Address`` does it."""
    try:
        folded = _folded_address(header, header_text(name), header_text(address))
        if folded is None:
            message[header] = Address(display_name=header_text(name), addr_spec=header_text(address))
        else:
            message.set_raw(header, folded)
    except (ValueError, IndexError, TypeError) as exc:
        # Sending again cannot mend an address (e.g. "a@b.lv,c@d.lv" typed by staff); the value
        # itself stays out of the error, which is stored and logged.
        raise PermanentFailure(f"not a usable e-mail address ({type(exc).__name__})") from None


@lru_cache(maxsize=4096)
def _folded_address(header: str, name: str, address: str) -> str | None:
    """The header's value as the header objects encode and fold it (a name's decoded ":" or "@"
    stays part of the name); None when that begins on a line of its own, which only they write.
    The office's and the employees' names come back all day: kept."""
    value = policy.SMTP.header_factory(header, Address(display_name=name, addr_spec=address))
    folded = policy.SMTP.fold(header, value)
    prefix = f"{header}: "
    return folded.removeprefix(prefix).removesuffix("\r\n") if folded.startswith(prefix) else None


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int
    security: str = "none"  # none | starttls | tls
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    # Inside :meth:`batch`, this thread's connection to the relay, kept from one send to the next.
    _kept: threading.local = field(default_factory=threading.local, compare=False, repr=False)

    def describe(self) -> str:
        return f"SMTP relay {self.host}:{self.port} ({self.security})"

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """The sends inside share one connection, opened at the first and closed at the end, instead
        of a connection each: with TLS and a login that was most of a send's time."""
        self._kept.on = True
        try:
            yield
        finally:
            self._kept.on = False
            self._drop(quit_first=True)

    def send(self, message: EmailMessage, *, name: str) -> None:
        self._deliver(lambda smtp: smtp.send_message(message))

    def send_rendered(self, mail: RenderedMail, *, name: str) -> None:
        """The same transaction as :meth:`send` makes for the message the bytes were rendered from."""
        self._deliver(lambda smtp: smtp.sendmail(mail.sender, list(mail.recipients), mail.data))

    def _deliver(self, send: Callable[[smtplib.SMTP], dict[str, tuple[int, bytes]]]) -> None:
        try:
            refused = self._send(send)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise self._classify(min(codes) if codes else 450, "recipient refused") from None
        except smtplib.SMTPResponseException as exc:
            # smtplib has reset the transaction (RSET): a kept connection serves the next message.
            error = exc.smtp_error
            text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
            raise self._classify(exc.smtp_code, text) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop(quit_first=False)
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
        if refused:
            code = min(code for code, _ in refused.values())
            raise self._classify(code, "recipient refused")

    def _send(self, send: Callable[[smtplib.SMTP], dict[str, tuple[int, bytes]]]) -> dict[str, tuple[int, bytes]]:
        if not getattr(self._kept, "on", False):
            with self.batch():  # a send on its own is a batch of one: one way to open and close
                return self._send(send)
        kept: smtplib.SMTP | None = getattr(self._kept, "smtp", None)
        if kept is not None:
            try:
                return send(kept)
            except smtplib.SMTPServerDisconnected:
                # The relay closed the kept connection (its idle timeout, a restart): once more on a
                # new one. At worst the relay had taken the message: sent twice, as with any retry.
                self._drop(quit_first=False)
        self._kept.smtp = fresh = self._open()
        return send(fresh)

    def _open(self) -> smtplib.SMTP:
        smtp = self._connect()
        try:
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _drop(self, *, quit_first: bool) -> None:
        smtp, self._kept.smtp = getattr(self._kept, "smtp", None), None
        if smtp is None:
            return
        with contextlib.suppress(smtplib.SMTPException, OSError):
            if quit_first:
                smtp.quit()
        smtp.close()

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    @staticmethod
    def _classify(code: int, text: str) -> Exception:
        if 500 <= code < 600:
            return PermanentFailure(f"{code} {text}")
        return TemporaryFailure(f"{code} {text}")


@dataclass(frozen=True)
class FolderTransport:
    """No relay configured: each message becomes an .eml file a person can open."""

    folder: Path

    def describe(self) -> str:
        return f"folder {self.folder}"

    def send(self, message: EmailMessage, *, name: str) -> None:
        self._write(name, message_bytes(message))

    def send_rendered(self, mail: RenderedMail, *, name: str) -> None:
        self._write(name, mail.data)

    def _write(self, name: str, data: bytes) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(self.folder / f"{name}.eml", data)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to {self.folder}: {exc.strerror}") from None
