"""The Twilio webhooks: inbound WhatsApp/SMS messages and delivery status callbacks.

Both endpoints take the body as bytes with a size limit (413 before anything is
parsed), then check ``X-Twilio-Signature`` with the twilio library's
``RequestValidator`` against the PUBLIC URL Twilio called: the configured
``public_base_url`` (the service runs behind a reverse proxy), or, with
``trust_forwarded_headers``, the scheme, host and port the proxy reports in
``X-Forwarded-Proto`` / ``X-Forwarded-Host`` / ``X-Forwarded-Port``. A missing
or wrong signature is answered 403 and logged without the body or any number.

An inbound message is answered 200 with an empty TwiML ``<Response/>`` only once
its receipt (the exact form body) is committed; a retry with the same
MessageSid is answered 200 and stores nothing new. A status callback is stored
(once per MessageSid and status) and applied to the outbox row whose
``external_id`` is ``sid:<MessageSid>``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from twilio.request_validator import RequestValidator

from channels.base import Channel
from channels.calls import encode as encode_call
from channels.calls import twilio_call_document
from channels.twilio_messaging import channel_of, first, parse_form
from ingest.config import TwilioSettings
from ingest.intake.http_body import BodyTooLarge, read_body
from ingest.intake.receipts import ReceiptStore
from storage import repo
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
DEFAULT_PORTS = {"http": "80", "https": "443"}
# Twilio ids are two letters and 32 hex digits (SM..., MM..., CA...); a little leeway for test
# tools, none for control characters or sizes the tables cannot hold.
SID = re.compile(r"^[A-Za-z]{2}[A-Za-z0-9]{1,62}$")


class _Form(dict[str, list[str]]):
    """Form fields with every value of a repeated name, as RequestValidator reads them (getlist)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def _first_value(header: str | None) -> str:
    """The first of a comma-separated forwarded header: what the outermost proxy saw."""
    return (header or "").split(",")[0].strip()


def public_url(request: Request, settings: TwilioSettings) -> str:
    """The URL Twilio called: the public base (config or trusted proxy headers) + path + query.

    The path of ``public_base_url`` is a prefix the proxy strips before passing the request on.
    """
    base = urlsplit(settings.public_base_url) if settings.public_base_url else None
    scheme = base.scheme if base else request.url.scheme
    netloc = base.netloc if base else (request.headers.get("host") or request.url.netloc)
    prefix = base.path.rstrip("/") if base else ""
    if settings.trust_forwarded_headers:
        proto = _first_value(request.headers.get("x-forwarded-proto")).lower()
        host = _first_value(request.headers.get("x-forwarded-host"))
        port = _first_value(request.headers.get("x-forwarded-port"))
        if proto in ("http", "https"):
            scheme = proto
        if host:
            netloc = host
        if port.isdigit():
            hostname = netloc.rsplit("@", 1)[-1]
            if not hostname.rsplit("]", 1)[-1].count(":"):  # no port given with the host
                netloc = netloc if port == DEFAULT_PORTS.get(scheme) else f"{netloc}:{port}"
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = prefix + raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def signature_valid(validator: RequestValidator, url: str, body: bytes, content_type: str, signature: str) -> bool:
    """Whether ``signature`` signs this request: form fields (every value), or a JSON body by its hash.

    The URL is tried as received and with its query re-encoded the way Twilio's older
    signers did (``'`` as ``%27``); each candidate still has to match the HMAC.
    """
    if not signature:
        return False
    split = urlsplit(url)
    is_form = "application/x-www-form-urlencoded" in content_type.lower() or (
        not content_type and "bodySHA256" not in split.query
    )
    params: object
    if is_form:
        try:
            params = _Form(parse_form(body))
        except Exception:  # noqa: BLE001 - not UTF-8: cannot be a Twilio form
            return False
    else:
        try:
            params = body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        if "bodySHA256" not in split.query:
            return False  # a JSON body is only signed through its hash in the URL
    candidates = [url]
    if split.query:
        reencoded = urlencode(parse_qsl(split.query, keep_blank_values=True))
        if reencoded != split.query:
            candidates.append(split._replace(query=reencoded).geturl())
    return any(validator.validate(candidate, params, signature) for candidate in candidates)


@dataclass
class TwilioWebhooks:
    """The endpoints' handlers, bound to one service's receipts and settings (no globals)."""

    settings: TwilioSettings
    receipts: ReceiptStore
    channels: Mapping[str, Channel]
    sessions: SessionFactory
    clock: Callable[[], datetime]
    stats: dict[str, int] = field(default_factory=lambda: {"accepted": 0, "duplicates": 0, "refused": 0})

    def __post_init__(self) -> None:
        self.validator = RequestValidator(self.settings.auth_token)

    def router(self, *, voice_status_path: str | None = None) -> APIRouter:
        """The routes on the configured paths (the paths are configuration, so no decorators)."""
        router = APIRouter(tags=["twilio"])
        router.add_api_route(self.settings.inbound_path, self.inbound, methods=["POST"])
        router.add_api_route(self.settings.status_path, self.status, methods=["POST"])
        if voice_status_path and "phone" in self.channels:
            if voice_status_path in (self.settings.inbound_path, self.settings.status_path):
                raise ValueError("calls.voice_status_path must differ from twilio.inbound_path and twilio.status_path")
            router.add_api_route(voice_status_path, self.voice_status, methods=["POST"])
        return router

    async def checked_body(self, request: Request, what: str) -> bytes | Response:
        """The body, if within the size limit (413) and signed by Twilio (403)."""
        try:
            body = await read_body(request, self.settings.max_body_bytes)
        except BodyTooLarge:
            log.warning("twilio %s webhook: body over %d bytes refused (413)", what, self.settings.max_body_bytes)
            return Response(status_code=413)
        url = public_url(request, self.settings)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature_valid(self.validator, url, body, request.headers.get("content-type", ""), signature):
            self.stats["refused"] += 1
            # The path only: the body, numbers and the query are not logged.
            log.warning(
                "twilio %s webhook: %s signature, refused (403) for %s",
                what,
                "wrong" if signature else "missing",
                request.url.path,
            )
            return Response(status_code=403)
        return body

    async def store_then_answer(self, channel: Channel, source: str, raw: bytes, webhook: str) -> Response:
        """Empty TwiML once the receipt is committed; 503 (Twilio tries again) if it cannot be."""
        try:
            stored = await self.receipts.store(channel, source=source, raw=raw, meta={"webhook": webhook})
        except Exception:  # noqa: BLE001 - not acknowledged: Twilio may try again
            log.exception("twilio %s webhook: could not store it (503)", webhook)
            return Response(status_code=503)
        self.stats["duplicates" if stored.duplicate else "accepted"] += 1
        return Response(EMPTY_TWIML, media_type="application/xml")

    async def inbound(self, request: Request) -> Response:
        body = await self.checked_body(request, "inbound")
        if isinstance(body, Response):
            return body
        fields = parse_form(body)
        sid, sender = first(fields, "MessageSid"), first(fields, "From")
        if not sid or not sender:
            log.warning("twilio inbound webhook: signed, but no MessageSid or From (400)")
            return Response("not a messaging webhook: MessageSid and From are needed", status_code=400)
        if not SID.match(sid):
            # Stored, it could never be processed (nor, on PostgreSQL, even committed): refused
            # for good instead of a 503 that Twilio would retry for ever.
            log.warning("twilio inbound webhook: signed, but the MessageSid is not a Twilio id (400)")
            return Response("MessageSid is not a Twilio id", status_code=400)
        return await self.store_then_answer(self.channels[channel_of(sender)], "twilio-webhook", body, "inbound")

    async def status(self, request: Request) -> Response:
        body = await self.checked_body(request, "status")
        if isinstance(body, Response):
            return body
        fields = parse_form(body)
        sid = first(fields, "MessageSid")
        state = (first(fields, "MessageStatus") or first(fields, "SmsStatus")).lower()[:32]
        if not sid or not state:
            return Response("MessageSid and MessageStatus are needed", status_code=400)
        if not SID.match(sid):
            return Response("MessageSid is not a Twilio id", status_code=400)
        error_code = first(fields, "ErrorCode")[:16] or None
        try:
            new, outbox_id = await asyncio.to_thread(self._record_status, sid, state, error_code)
        except Exception:  # noqa: BLE001
            log.exception("twilio status webhook: could not store the status (503)")
            return Response(status_code=503)
        log.info(
            "twilio status %s%s for outbox %s%s",
            state,
            f" (ErrorCode {error_code})" if error_code else "",
            outbox_id if outbox_id is not None else "(not known yet)",
            "" if new else ", repeated",
        )
        return Response(status_code=204)

    def _record_status(self, sid: str, state: str, error_code: str | None) -> tuple[bool, int | None]:
        with transaction(self.sessions) as session:
            new, row = repo.record_message_status(
                session, message_sid=sid, status=state, error_code=error_code, now=self.clock()
            )
            return new, (row.id if row is not None else None)

    async def voice_status(self, request: Request) -> Response:
        """Twilio Voice status callback: the call's final status is stored as a call receipt.

        Progress events (initiated, ringing, answered) store nothing; a retried callback with
        the same CallSid is one receipt. 200 only after the commit.
        """
        body = await self.checked_body(request, "voice status")
        if isinstance(body, Response):
            return body
        fields = parse_form(body)
        if not first(fields, "CallSid") or not (first(fields, "CallStatus") or first(fields, "DialCallStatus")):
            return Response("CallSid and CallStatus are needed", status_code=400)
        if not SID.match(first(fields, "CallSid")):
            return Response("CallSid is not a Twilio id", status_code=400)
        document = twilio_call_document(fields, now=self.clock())
        if document is None:
            return Response(EMPTY_TWIML, media_type="application/xml")
        return await self.store_then_answer(
            self.channels["phone"], "twilio-voice", encode_call(document), "voice-status"
        )
