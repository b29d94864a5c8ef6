"""The WhatsApp Cloud API (Meta) webhook: the verification handshake and signed updates.

GET is Meta's subscription handshake: ``hub.mode=subscribe`` with the configured
``hub.verify_token`` is answered 200 with ``hub.challenge`` as plain text, anything
else 403.

POST takes the body as bytes with a size limit (413 before anything is parsed),
then checks ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the exact
raw body under the app secret, compared in constant time; a missing or wrong one
is answered 403 and logged without the body. A signed body that is not JSON of the
documented shape is 400. Its messages (one receipt each, ``channels/whatsapp_cloud``)
are stored in ONE transaction, and 200 is answered only after the commit (503 if
it fails, so Meta delivers the body again). A body Meta delivers again has the same
message ids: it stores nothing new and is answered 200.

Delivery statuses are only logged (status and error codes, never the message id:
a wamid encodes the client's number). ``storage.repo.record_message_status`` is
keyed by Twilio's MessageSid (outbox rows ``sid:<sid>``), and nothing is sent
through the Cloud API yet, so there is no outbox row a wamid could update.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from channels.base import Channel
from channels.whatsapp_cloud import BUSINESS_OBJECT, CHANNEL_NAME, InvalidWebhook, WebhookContent, split_webhook
from ingest.config import WhatsAppCloudSettings
from ingest.intake.http_body import BodyTooLarge, read_body
from ingest.intake.receipts import IncomingReceipt, ReceiptStore

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
SOURCE = "whatsapp-cloud-webhook"
# Meta's challenge is a number; anything much longer is not a handshake.
MAX_CHALLENGE = 256


def expected_signature(app_secret: str, body: bytes) -> str:
    """The header value Meta sends: ``sha256=`` + hex HMAC-SHA256 of the raw body under the app secret."""
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(app_secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` signs ``body``; exactly Meta's form (prefix, lower-case hex), in constant time."""
    if not app_secret or not header:
        return False
    return hmac.compare_digest(expected_signature(app_secret, body).encode(), header.strip().encode())


def _log_other(content: WebhookContent) -> None:
    """Statuses and non-message changes are not stored: each is said in the log, without personal data."""
    for status in content.statuses:
        log.info(
            "whatsapp cloud status %s%s (message %s; not applied: nothing is sent through the Cloud API)",
            status.status or "?",
            f" (errors {', '.join(status.error_codes)})" if status.error_codes else "",
            # A short hash: the wamid itself encodes the client's number.
            hashlib.sha256(status.message_id.encode()).hexdigest()[:12],
        )
    if content.other_fields:
        log.info(
            "whatsapp cloud webhook: changes of fields %s not handled", ", ".join(sorted(set(content.other_fields)))
        )
    if content.error_codes:
        log.warning("whatsapp cloud webhook: Meta reported errors %s", ", ".join(content.error_codes))


@dataclass
class WhatsAppCloudWebhook:
    """The handshake and the signed updates, bound to one service's receipts and settings."""

    settings: WhatsAppCloudSettings
    receipts: ReceiptStore
    channels: Mapping[str, Channel]
    stats: dict[str, int] = field(default_factory=lambda: {"accepted": 0, "duplicates": 0, "refused": 0})

    def router(self) -> APIRouter:
        """The routes on the configured path (the path is configuration, so no decorators)."""
        router = APIRouter(tags=["whatsapp-cloud"])
        router.add_api_route(self.settings.path, self.verify, methods=["GET"])
        router.add_api_route(self.settings.path, self.updates, methods=["POST"])
        return router

    async def verify(self, request: Request) -> Response:
        params = request.query_params
        token = params.get("hub.verify_token", "")
        challenge = params.get("hub.challenge", "")
        ok = (
            params.get("hub.mode") == "subscribe"
            and bool(self.settings.verify_token)
            and hmac.compare_digest(token.encode(), self.settings.verify_token.encode())
            and 0 < len(challenge) <= MAX_CHALLENGE
        )
        if not ok:
            log.warning("whatsapp cloud webhook: verification handshake refused (403)")
            return Response(status_code=403)
        log.info("whatsapp cloud webhook: verification handshake answered")
        return PlainTextResponse(challenge)

    async def updates(self, request: Request) -> Response:
        try:
            body = await read_body(request, self.settings.max_body_bytes)
        except BodyTooLarge:
            log.warning("whatsapp cloud webhook: body over %d bytes refused (413)", self.settings.max_body_bytes)
            return Response(status_code=413)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature_valid(self.settings.app_secret, body, signature):
            self.stats["refused"] += 1
            log.warning(
                "whatsapp cloud webhook: %s signature, refused (403) for %s",
                "wrong" if signature else "missing",
                request.url.path,
            )
            return Response(status_code=403)
        try:
            content = split_webhook(body)
        except InvalidWebhook as exc:
            log.warning("whatsapp cloud webhook: signed, but %s (400)", exc)
            return Response(f"not a WhatsApp Cloud API webhook: {exc}", status_code=400)
        if content.object_type != BUSINESS_OBJECT:
            # Another product's webhook pointed here: acknowledged, so Meta stops retrying it.
            log.warning("whatsapp cloud webhook: object %r is not WhatsApp, nothing stored", content.object_type[:64])
            return Response(status_code=200)
        if content.messages and not await self._store(content):
            return Response(status_code=503)
        _log_other(content)
        return Response(status_code=200)

    async def _store(self, content: WebhookContent) -> bool:
        """All messages of the body in one transaction; False when they could not be stored."""
        channel = self.channels[CHANNEL_NAME]
        items = [IncomingReceipt(channel, SOURCE, raw, {"webhook": "whatsapp-cloud"}) for raw in content.messages]
        try:
            stored = await asyncio.to_thread(self.receipts.store_many_sync, items)
        except Exception as exc:  # noqa: BLE001 - not acknowledged: Meta delivers the body again
            # The type only: a database error's text quotes the statement's parameters (the raw message).
            log.error("whatsapp cloud webhook: could not store %d messages (503): %s", len(items), type(exc).__name__)
            return False
        new = sum(not s.duplicate for s in stored)
        self.stats["accepted"] += new
        self.stats["duplicates"] += len(stored) - new
        return True
