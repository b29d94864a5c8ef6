"""Downloading the media clients send through Twilio (images, voice notes, documents).

The webhook answers Twilio as soon as the form body is committed; the pipeline
records each ``MediaUrlN`` as an attachment without bytes plus a ``media_fetch``
row. This worker downloads those outside any request, with the account's
credentials (HTTP basic auth, as Twilio requires when media is protected), and
follows Twilio's redirect to its media store without sending the credentials
there (httpx drops ``Authorization`` when a redirect leaves the origin).

Only URLs under the Twilio API base are fetched: the credentials go nowhere
else, and a webhook cannot make the service fetch an arbitrary address.
Failures are retried with growing pauses; a body over the size limit, or the
last failed attempt, gives up: the attachment's omitted reason then says why,
the inquiry's timeline records it, and ``ingest doctor`` lists it.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlmodel import Session

from ingest.config import RetrySettings
from ingest.queues.runner import QueueFailure, count_failure, run_batch
from storage import repo
from storage.db import SessionFactory, transaction
from storage.media_repo import FAILED, FETCHED, PENDING, claim_media
from storage.models import Attachment, Message
from storage.twilio_models import MediaFetch

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.twilio.com"


class GiveUp(QueueFailure):
    """Trying again cannot help (too large, not a Twilio URL)."""

    final = True


@dataclass(frozen=True)
class Downloaded:
    data: bytes
    content_type: str


@dataclass
class MediaFetcher:
    sessions: SessionFactory
    account_sid: str
    auth_token: str
    retry: RetrySettings
    clock: Callable[[], datetime]
    max_bytes: int
    api_base_url: str = DEFAULT_API_BASE
    timeout_seconds: float = 30
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def fetch_due(self) -> int:
        """Download one batch of due media; returns how many were tried. One HTTP client serves
        the batch (made at its first item, so an idle wake-up makes none)."""
        try:
            return run_batch(self)
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    def claim(self) -> list[MediaFetch]:
        with transaction(self.sessions) as session:
            return claim_media(
                session,
                now=self.clock(),
                lease=timedelta(seconds=self.retry.lease_seconds),
                limit=self.retry.batch_size,
            )

    def attempt(self, row: MediaFetch) -> None:
        if self._client is None:
            self._client = httpx.Client(
                auth=httpx.BasicAuth(self.account_sid, self.auth_token),
                follow_redirects=True,
                timeout=self.timeout_seconds,
            )
        try:
            result: Downloaded | Exception = self._download(self._client, row.url)
        except Exception as exc:  # noqa: BLE001 - recorded on the row, retried or given up
            result = exc
        self._record(row, result)

    def _download(self, client: httpx.Client, url: str) -> Downloaded:
        if not _under(url, self.api_base_url or DEFAULT_API_BASE):
            raise GiveUp("not a Twilio media URL; not fetched")
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise GiveUp(f"{int(declared)} bytes, over the {self.max_bytes}-byte limit")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise GiveUp(f"over the {self.max_bytes}-byte limit")
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
        return Downloaded(data=b"".join(chunks), content_type=content_type)

    def _record(self, row: MediaFetch, result: Downloaded | Exception) -> None:
        now = self.clock()
        with transaction(self.sessions) as session:
            current = session.get(MediaFetch, row.id)
            if current is None or current.status != PENDING or current.lease_until != row.lease_until:
                return  # another fetcher took it over after our lease ran out
            attachment = session.get(Attachment, current.attachment_id)
            message = session.get(Message, attachment.message_id) if attachment is not None else None
            current.lease_until = None
            if isinstance(result, Downloaded) and attachment is not None:
                current.attempts += 1
                _fill(attachment, result)
                current.status, current.fetched_at, current.last_error = FETCHED, now, None
                session.add(attachment)
                self._event(session, message, "media_fetched", attachment, now)
                log.info("media %s fetched for attachment %s (%d bytes)", current.id, attachment.id, attachment.size)
            else:
                error = result if isinstance(result, Exception) else GiveUp("the attachment row is gone")
                self._failed(session, current, error, attachment, message, now)
            session.add(current)

    def _failed(
        self,
        session: Session,
        row: MediaFetch,
        error: Exception,
        attachment: Attachment | None,
        message: Message | None,
        now: datetime,
    ) -> None:
        if not count_failure(row, error, retry=self.retry, now=now, pending=PENDING, given_up=FAILED):
            log.info("media %s not fetched (attempt %d), retry at %s", row.id, row.attempts, row.next_attempt_at)
            return
        reason = row.last_error or ""
        if attachment is not None:
            attachment.omitted_reason = f"media could not be fetched: {reason}"[:2000]
            session.add(attachment)
        self._event(session, message, "media_failed", attachment, now, error=reason)
        log.warning("media %s given up after %d attempts: %s", row.id, row.attempts, type(error).__name__)

    @staticmethod
    def _event(
        session: Session,
        message: Message | None,
        kind: str,
        attachment: Attachment | None,
        now: datetime,
        error: str | None = None,
    ) -> None:
        if message is None:
            return
        data: dict[str, object] = {"message_id": message.id, "attachment_id": attachment.id if attachment else None}
        if error:
            data["error"] = error
        repo.add_event(session, inquiry_id=message.inquiry_id, type=kind, data=data, at=now)


def _fill(attachment: Attachment, result: Downloaded) -> None:
    attachment.data = result.data
    attachment.size = len(result.data)
    attachment.sha256 = hashlib.sha256(result.data).hexdigest()
    attachment.content_type = result.content_type or attachment.content_type
    attachment.filename = _filename(attachment.filename, attachment.content_type)
    attachment.omitted_reason = None


def _under(url: str, base: str) -> bool:
    """``url`` is on the same scheme and host as ``base`` and below its path."""
    parsed, root = httpx.URL(url), httpx.URL(base)
    return (
        parsed.scheme == root.scheme
        and parsed.host == root.host
        and parsed.port == root.port
        and not parsed.userinfo
        and parsed.path.startswith(root.path.rstrip("/") + "/")
    )


def _filename(current: str | None, content_type: str) -> str | None:
    """Twilio media URLs end in a bare id (``ME...``): add the extension the content type implies."""
    if not current or "." in current:
        return current
    extension = mimetypes.guess_extension(content_type or "", strict=False)
    return current + extension if extension else current
