"""Sending WhatsApp and SMS messages through Twilio's Messages API, from the outbox.

Outbox payload of a row on channel ``sms`` or ``whatsapp``::

    {"to": "+37120000000",          # E.164 number (a "whatsapp:" prefix is accepted and ignored)
     "text": "...",                 # the message body
     "media_urls": ["https://..."], # optional: media Twilio fetches and sends along
     "content_sid": "HX...",        # optional, WhatsApp: an approved template (needed outside the
     "content_variables": "{...}"}  #   24-hour customer-service window), with its variables as JSON text

The transport uses the real ``twilio.rest.Client``. Its REST base URL can be pointed elsewhere
(a local stand-in in tests, a proxy) with ``api_base_url``: the supported way in the library is the
``base_url`` attribute of the API domain (``client.api.base_url``), which every request of that
domain is built from; edge/region stay unset so the library does not rewrite the host.

Failures: a 4xx answer (a bad number, a refused sender, a template required) is permanent, except
429 (too many requests), which is retried like a 5xx or a network error.

The row's ``external_id`` becomes ``sid:<MessageSid>`` once Twilio accepted it, so delivery status
callbacks find it (see :class:`ChannelOutboxSender`). Delivery is at least once: Twilio's Messages
API has no idempotency key, so a process killed between Twilio's answer and the database update
sends the message again after the lease.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from channels.twilio_messaging import WHATSAPP_PREFIX, is_e164, phone_of
from ingest.config import TwilioSettings
from ingest.outgoing.mail_transport import PermanentFailure, TemporaryFailure
from ingest.outgoing.outbox import OutboxSender
from storage.models import Outbox

log = logging.getLogger(__name__)

CHANNELS = ("sms", "whatsapp")


class PayloadTransport(Protocol):
    """A transport that sends an outbox payload as it is and returns the provider's message id."""

    def send(self, payload: Mapping[str, Any], *, channel: str, name: str) -> str | None: ...

    def describe(self) -> str: ...


class TwilioTransport:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        messaging_service_sid: str = "",
        sms_from: str = "",
        whatsapp_from: str = "",
        api_base_url: str = "",
        status_callback_url: str = "",
        timeout: float = 15.0,
    ) -> None:
        # The library logs request URLs and response bodies (numbers, text) at INFO.
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")
        self.messaging_service_sid = messaging_service_sid
        self.sms_from = sms_from
        self.whatsapp_from = whatsapp_from
        self.status_callback_url = status_callback_url
        self._api_base_url = api_base_url

    @classmethod
    def from_settings(cls, settings: TwilioSettings) -> TwilioTransport:
        callback = ""
        if settings.status_callbacks and settings.public_base_url:
            callback = settings.public_base_url.rstrip("/") + settings.status_path
        return cls(
            account_sid=settings.account_sid,
            auth_token=settings.auth_token,
            messaging_service_sid=settings.messaging_service_sid,
            sms_from=settings.sms_from,
            whatsapp_from=settings.whatsapp_from,
            api_base_url=settings.api_base_url,
            status_callback_url=callback,
            timeout=settings.timeout_seconds,
        )

    def describe(self) -> str:
        return f"Twilio Messages API ({self._api_base_url or 'library default'})"

    def send(self, payload: Mapping[str, Any], *, channel: str, name: str) -> str:
        """Hand one message to Twilio; returns its MessageSid. Raises Temporary/PermanentFailure."""
        if channel not in CHANNELS:
            raise PermanentFailure(f"the Twilio transport does not send {channel!r}")
        to = phone_of(str(payload.get("to") or ""))
        if not is_e164(to):
            raise PermanentFailure("payload 'to' is not an E.164 number")
        text = str(payload.get("text") or "")
        kwargs: dict[str, Any] = {}
        if payload.get("content_sid"):
            kwargs["content_sid"] = payload["content_sid"]
            if payload.get("content_variables"):
                kwargs["content_variables"] = payload["content_variables"]
        elif not text and not payload.get("media_urls"):
            raise PermanentFailure("payload has neither text, media nor a template")
        if text and "content_sid" not in kwargs:
            kwargs["body"] = text
        if payload.get("media_urls"):
            kwargs["media_url"] = list(payload["media_urls"])
        prefix = WHATSAPP_PREFIX if channel == "whatsapp" else ""
        kwargs["to"] = prefix + to
        sender = self.whatsapp_from if channel == "whatsapp" else self.sms_from
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        elif sender:
            kwargs["from_"] = prefix + phone_of(sender) if is_e164(phone_of(sender)) else sender
        else:
            raise PermanentFailure(f"no sender configured for {channel}: set messaging_service_sid or {channel}_from")
        if self.status_callback_url:
            kwargs["status_callback"] = self.status_callback_url
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            status = int(exc.status or 0)
            detail = f"Twilio {status}" + (f" error {exc.code}" if exc.code else "") + f": {exc.msg}"
            if 400 <= status < 500 and status != 429:
                raise PermanentFailure(detail) from None
            raise TemporaryFailure(detail) from None
        except (requests.RequestException, OSError) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
        except TwilioException as exc:  # e.g. an answer that is not JSON
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
        if not message.sid:
            raise TemporaryFailure("Twilio answered without a MessageSid")
        return str(message.sid)


@dataclass
class ChannelOutboxSender(OutboxSender):
    """The outbox sender, plus channels whose transport sends the payload itself (sms, whatsapp).

    E-mail rows go through the inherited path unchanged (``build_email`` + mail transport). A
    failure that is not the transports' own (TemporaryFailure, PermanentFailure) is recorded as
    ``Type: message`` and retried, like any queue's.
    """

    payload_transports: Mapping[str, PayloadTransport] = field(default_factory=dict)

    def send(self, row: Outbox) -> str | None:
        transport = self.payload_transports.get(row.channel)
        if transport is None:
            return super().send(row)
        return transport.send(row.payload, channel=row.channel, name=f"{row.id:08d}-{row.kind}")
