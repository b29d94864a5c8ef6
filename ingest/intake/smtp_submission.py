"""The submission port (``[smtp_submission]``, off by default): staff send replies with SMTP AUTH.

A session must authenticate (PLAIN or LOGIN, ``ingest/intake/staff_auth.py``: the dashboard's
employee key or e-mail address and password, the same limit on failed attempts) before MAIL, RCPT
or DATA, which are answered 530 until then. With a certificate configured, STARTTLS comes first and
AUTH is offered only inside it; without one, AUTH in clear is allowed only on a loopback host (the
settings refuse anything else). Recipients and message limits are those of ``[smtp_listener]``;
messages are spooled and acknowledged after their commit as there. The receipt's source is
``smtp-submission`` and its meta records who the session authenticated as, how, and whether over
TLS: the pipeline's staff-reply step takes that as proof when the employee is the reply's author
(``ingest/pipeline/staff_proof.py``).
"""

from __future__ import annotations

import binascii
import logging
import ssl
import warnings
from base64 import b64decode
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from ingest.config.channels import SmtpListenerSettings, SmtpSubmissionSettings
from ingest.intake.smtp_listener import InboundSmtpHandler, StoreRaw, smtp_protocol_factory
from ingest.intake.spool import Spool
from ingest.intake.staff_auth import StaffAuthenticator, StaffLogin
from ingest.pipeline.staff_proof import SUBMISSION_META

INVALID = "535 5.7.8 Authentication credentials invalid"
BUSY = "454 4.7.0 Too many failed attempts, try again later"

log = logging.getLogger(__name__)


class SubmissionHandler(InboundSmtpHandler):
    """The listener's handler with AUTH against the employees' passwords (aiosmtpd takes a handler's
    ``auth_<MECHANISM>`` methods over its own, and awaits them: scrypt runs in a thread)."""

    def __init__(
        self, *, recipients: list[str], store: StoreRaw, authenticator: StaffAuthenticator, max_recipients: int
    ) -> None:
        super().__init__(recipients=recipients, store=store, max_recipients=max_recipients)
        self._authenticator = authenticator

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 4616: ``authzid NUL authcid NUL password``, with the command or after a 334."""
        blob = await _response(server, args, challenge="")
        if blob is None:
            return AuthResult(success=False, handled=True)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await server.push("501 5.5.2 Can't split auth value")
            return AuthResult(success=False, handled=True)
        return await self._check(server, "PLAIN", parts[1], parts[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """The de-facto LOGIN: user name and password, each after its 334 challenge."""
        login = await _response(server, args, challenge="User Name\x00")
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await _response(server, [args[0]], challenge="Password\x00")
        if password is None:
            return AuthResult(success=False, handled=True)
        return await self._check(server, "LOGIN", login, password)

    async def _check(self, server: SMTP, mechanism: str, login: bytes, password: bytes) -> AuthResult:
        assert server.session is not None
        peer = server.session.peer
        address = peer[0] if isinstance(peer, tuple) and peer else None
        verdict = await self._authenticator.check(login, password, mechanism=mechanism, address=address)
        if verdict.login is not None:
            return AuthResult(success=True, auth_data=verdict.login)
        return AuthResult(success=False, handled=False, message=BUSY if verdict.wait is not None else INVALID)

    def meta(self, session: Session, envelope: Envelope) -> dict[str, Any]:
        login = session.auth_data
        assert isinstance(login, StaffLogin), "DATA before AUTH: aiosmtpd answers 530 before it gets here"
        auth = {"employee": login.employee_key, "mechanism": login.mechanism, "tls": session.ssl is not None}
        return {**super().meta(session, envelope), SUBMISSION_META: auth}


async def _response(server: SMTP, args: list[str], *, challenge: str) -> bytes | None:
    """The client's base64 answer: given with the AUTH command, or asked for with a 334; None when
    the client gave up or sent no base64 (already answered)."""
    if len(args) > 1:
        try:
            return b64decode(args[1].encode(), validate=True)
        except binascii.Error:
            await server.push("501 5.5.2 Can't decode base64")
            return None
    answer = await server.challenge_auth(challenge)
    return answer if isinstance(answer, bytes) else None


def tls_context(settings: SmtpSubmissionSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


def submission_protocol_factory(
    handler: SubmissionHandler, settings: SmtpSubmissionSettings, listener: SmtpListenerSettings, *, spool: Spool
) -> Callable[[], SMTP]:
    """Sessions of the submission port: AUTH required; with TLS, STARTTLS before anything else."""
    context = tls_context(settings)
    tls = context is not None
    factory = smtp_protocol_factory(
        handler, spool=spool, max_message_bytes=listener.max_message_bytes, max_sessions=settings.max_sessions,
        max_line_bytes=listener.max_line_bytes, tls_context=context, require_starttls=tls, auth_required=True,
        auth_require_tls=tls,
    )  # fmt: skip
    if tls:
        return factory

    # AUTH in clear was allowed deliberately (a loopback host, checked by the settings): aiosmtpd's
    # warning about it, logged and warned, would be repeated for every session.
    log.warning("smtp submission: AUTH without TLS, allowed on loopback host %s", settings.host)
    logging.getLogger("mail.log").addFilter(_ALLOWED_IN_CLEAR)

    def plain() -> SMTP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return factory()

    return plain


class _AllowedInClear(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "auth_require_tls == False" not in record.getMessage()


_ALLOWED_IN_CLEAR = _AllowedInClear()  # one instance: adding it again changes nothing
