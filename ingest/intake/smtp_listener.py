"""The SMTP receiver: the company's mail server relays the public addresses here.

It refuses unknown recipients at RCPT time, stores the raw message, and only
answers 250 once the receipt is committed; anything else gets a 4xx so the
sending server keeps the message and tries again. A message is written to a
spool as it arrives (ingest/intake/smtp_data.py, spool.py): in memory while
small, in a file under the data folder once over ``spool_above_bytes``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from ingest.intake.smtp_data import REFUSALS, DataState, read_data
from ingest.intake.spool import Spool, SpooledMessage

log = logging.getLogger(__name__)

# What the handler hands on: the message's bytes when it stayed in memory, else its spool (the
# store reads it from disk, ingest/intake/receipts.py).
Raw = bytes | SpooledMessage
StoreRaw = Callable[[Raw, dict[str, Any]], Awaitable[object]]


class SpooledEnvelope(Envelope):
    """aiosmtpd's envelope with the message's spool instead of its content in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.body: SpooledMessage | None = None


class InboundSmtpHandler:
    def __init__(self, *, recipients: Collection[str], store: StoreRaw, max_recipients: int = 10) -> None:
        self._recipients = {r.lower() for r in recipients}
        self._store = store
        self._max_recipients = max_recipients
        self.accepted = 0
        self.refused = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if base_address(address) not in self._recipients:
            self.refused += 1
            return "550 5.1.1 No such mailbox here: this server accepts mail for the customer-service addresses only"
        if len(envelope.rcpt_tos) >= self._max_recipients:
            # RFC 5321 4.5.3.1.10: the sender sends the rest in another transaction.
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = message_of(envelope)
        meta = self.meta(session, envelope)
        try:
            await self._store(raw, meta)
        except Exception:  # noqa: BLE001 - the sender keeps the message and retries on 4xx
            log.exception("smtp: could not store a message; answered 451")
            return "451 4.3.0 Temporary failure storing the message, please try again later"
        self.accepted += 1
        return "250 2.0.0 Message accepted"

    def meta(self, session: Session, envelope: Envelope) -> dict[str, Any]:
        """What the receipt records beside the message: the envelope."""
        return {
            # The null sender "<>" (bounces) is no address to answer.
            "envelope_from": (envelope.mail_from or "").strip("<>").strip(),
            "envelope_to": [r.lower() for r in envelope.rcpt_tos],
        }


def message_of(envelope: Envelope) -> Raw:
    """The message of a DATA command: its spool when on disk, else its bytes."""
    body = getattr(envelope, "body", None)
    if isinstance(body, SpooledMessage):
        return body if body.on_disk else body.read_all()
    raw = envelope.original_content or b""
    if isinstance(raw, str):  # only when decode_data=True, which we never set
        raw = raw.encode("utf-8", "surrogateescape")
    return raw


def base_address(address: str) -> str:
    """``klienti+token@example.lv`` -> ``klienti@example.lv``: replies carry a token after the plus."""
    local, _, domain = address.lower().rpartition("@")
    return f"{local.partition('+')[0]}@{domain}"


class Sessions:
    """How many SMTP sessions are open, so that their number, and with it the memory their
    messages take while they arrive, stays bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class BoundedSMTP(SMTP):
    """An SMTP session that is refused with 421 when ``sessions.limit`` are already open (the
    sending server tries again later, RFC 5321 3.8), and writes DATA to a spool as it arrives."""

    def __init__(
        self,
        handler: InboundSmtpHandler,
        *,
        sessions: Sessions,
        spool: Spool,
        line_length_limit: int = 65536,
        **kwargs: Any,
    ) -> None:
        # aiosmtpd refuses lines over 1,000 bytes (RFC 5321's limit); real mailers send longer ones and
        # Postfix and Exim take them, so a client's message is not refused for it (issue 14). Set before
        # the base class makes its stream reader, which takes the limit.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **kwargs)
        self._sessions = sessions
        self._spool = spool
        self._counted = False

    def connection_made(self, transport: Any) -> None:
        if self._sessions.open >= self._sessions.limit:
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()
            return
        self._sessions.open += 1
        self._counted = True
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._counted:
            return  # refused before it began: nothing was set up
        self._sessions.open -= 1
        self._counted = False
        super().connection_lost(exc)

    def _create_envelope(self) -> Envelope:
        return SpooledEnvelope()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with the text written to a spool line by line instead of a list in memory."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        envelope = self.envelope
        assert isinstance(envelope, SpooledEnvelope)
        if not envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        body = self._spool.new()
        try:  # a client gone mid-DATA cancels this: the spool goes with it
            state = await read_data(
                self._reader, body, size_limit=self.data_size_limit, line_limit=self.line_length_limit
            )
            if state is not DataState.COMPLETE:
                self.envelope = self._create_envelope()  # aiosmtpd's _set_post_data_state, untyped
                await self.push(REFUSALS[state])
                return
            envelope.body = body
            status = await self._call_handler_hook("DATA")
        finally:
            body.release()  # the store holds it on its own until its commit is done
        self.envelope = self._create_envelope()
        await self.push("250 OK" if status is MISSING else status)


def smtp_protocol_factory(
    handler: InboundSmtpHandler,
    *,
    max_message_bytes: int,
    spool: Spool,
    hostname: str | None = None,
    max_sessions: int = 20,
    max_line_bytes: int = 65536,
    **smtp_options: Any,
) -> Callable[[], SMTP]:
    """Sessions of ``handler``; ``smtp_options`` go to aiosmtpd (AUTH and TLS for submission)."""
    sessions = Sessions(max_sessions)

    def factory() -> SMTP:
        return BoundedSMTP(handler, sessions=sessions, spool=spool, line_length_limit=max_line_bytes,
                           data_size_limit=max_message_bytes, hostname=hostname, enable_SMTPUTF8=True,
                           **smtp_options)  # fmt: skip

    return factory
