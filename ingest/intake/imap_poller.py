"""The IMAP receiver: reads a mailbox and stores each message as a receipt of the e-mail channel.

How far the mailbox has been read is the pair (UIDVALIDITY, last UID) in the ``mailbox_state``
table. Messages above the last UID are fetched with ``BODY.PEEK[]`` (which sets no flag) in
batches, in UID order; each batch is stored together with the new last UID in ONE database
transaction, and only after that commit are the messages marked on the server (a keyword, \\Seen,
or a move). A crash between the commit and the marking is repaired at the next connection: UIDs
up to the last UID that still lack the mark are marked then. A changed UIDVALIDITY means the
UIDs no longer mean what they meant, so the folder is read again from the start; the e-mail
channel's natural id (Message-ID, else a hash of the bytes) keeps anything from being stored twice,
and the same message arriving over SMTP and IMAP is one receipt for the same reason.

The poller waits with IDLE when the server offers it and polls otherwise. Network errors and
server restarts are retried with growing pauses; a refused login stops this receiver (and says so
in its state) while the rest of the service runs on. imapclient is blocking, so the poller runs in
a thread of its own; it notices a stop request within about half a second.

Logs carry UIDs, counts and receipt ids only: no addresses, no message text, no user name.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from imapclient.imapclient import DELETED, SEEN
from sqlalchemy.exc import SQLAlchemyError

from channels.base import Channel
from ingest.config import ImapSettings
from ingest.intake.receipts import ReceiptStore, StoredReceipt
from ingest.queues.backoff import backoff_delay
from storage import repo
from storage.db import SessionFactory, transaction
from storage.leader import LeaderLock

log = logging.getLogger(__name__)

# Seconds one idle_check waits before the stop flag is looked at again.
IDLE_TICK = 0.5
# Login refusals that say "try later" rather than "wrong password" (RFC 5530 response codes).
TRANSIENT_LOGIN_CODES = (b"UNAVAILABLE", b"SERVERBUG", b"INUSE", b"LIMIT")


class _Stopping(Exception):
    pass


class _LostLeadership(Exception):
    """Another process reads this mailbox now (our lock's database connection was lost)."""


class FolderUnavailable(Exception):
    pass


class FolderReplaced(Exception):
    """The folder's UIDVALIDITY changed under an open session: select it again."""


class ProcessedFlagRefused(Exception):
    """The folder keeps no keywords of ours: with processed_action "flag" nothing could be marked."""


class ImapPoller:
    def __init__(
        self,
        settings: ImapSettings,
        *,
        sessions: SessionFactory,
        receipts: ReceiptStore,
        channel: Channel,
        clock: Callable[[], datetime],
        ssl_context: ssl.SSLContext | None = None,
        leader: LeaderLock | None = None,
        leader_retry_seconds: float = 5,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.receipts = receipts
        self.channel = channel
        self.clock = clock
        self.ssl_context = ssl_context
        # One poller per mailbox across processes: only the lock's holder connects.
        self.leader = leader
        self.leader_retry_seconds = leader_retry_seconds
        self.mailbox = settings.mailbox_key()
        self.state = "new"
        # Tests may turn IDLE off to exercise polling against a server that offers it.
        self.use_idle = True
        self.stored = 0  # new receipts stored by this poller since it started
        self.duplicates = 0
        self.connections = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._uidvalidity: int | None = None
        self._last_uid = 0
        self._warned_no_uidplus = False
        self._session_ok = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        imap_log = logging.getLogger("imapclient")
        if imap_log.level == logging.NOTSET:
            # At DEBUG imapclient logs commands and literals: user names, message bytes.
            imap_log.setLevel(logging.WARNING)
        self._stop.clear()
        self.state = "connecting"
        self._thread = threading.Thread(target=self._run, name="imap-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("imap: the poller did not stop within %s s (blocked on the network)", timeout)
        if not self.state.startswith("stopped"):
            self.state = "stopped"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the connection loop -----------------------------------------------------------------

    def _await_leadership(self) -> bool:
        """Block until this process may read the mailbox; False when asked to stop meanwhile."""
        if self.leader is None:
            return True
        while not self._stop.is_set():
            if self.leader.try_acquire():
                return True
            if self.state != "standby":
                log.info("imap: another process reads this mailbox; standing by")
            self.state = "standby"
            self._stop.wait(self.leader_retry_seconds)
        return False

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            if not self._await_leadership():
                break
            client: IMAPClient | None = None
            # Set once the folder is open: a failure after that starts the pauses from 1 s again.
            self._session_ok = False
            try:
                self.state = "connecting" if attempt == 0 else self.state
                client = self._connect()
                self.connections += 1
                self._session(client)
            except LoginError as exc:
                if any(code in str(exc).encode() for code in TRANSIENT_LOGIN_CODES):
                    attempt = self._next_attempt(attempt)
                    self._pause(attempt, "the server refused the login for now (unavailable)")
                    continue
                self.state = "stopped: login refused"
                log.error(
                    "imap: the server refused the login; check imap.username and the password "
                    "(INGEST__IMAP__PASSWORD). The IMAP receiver is stopped; the rest of the service runs on"
                )
                return
            except _Stopping:
                break
            except _LostLeadership:
                log.warning("imap: lost the lock on this mailbox; standing by")
                attempt = 0
                continue
            except FolderReplaced:
                log.warning("imap: the folder was replaced (new UIDVALIDITY); opening it again")
                attempt = 0
                continue
            except ProcessedFlagRefused:
                self.state = "stopped: the server does not keep the processed flag"
                log.error(
                    "imap: the folder does not allow keywords, so processed_flag cannot be set; use "
                    'processed_action = "seen" or "move". The IMAP receiver is stopped'
                )
                return
            except FolderUnavailable as exc:
                attempt = self._next_attempt(attempt)
                self._pause(attempt, str(exc))
            except Exception as exc:  # noqa: BLE001 - network, server restart, database: retried
                if self._stop.is_set():
                    break
                attempt = self._next_attempt(attempt)
                known = isinstance(exc, (OSError, IMAPClient.Error, IMAPClient.AbortError, SQLAlchemyError))
                if not known:
                    # Type only at ERROR: an exception's text may quote a message; the trace at DEBUG.
                    log.error("imap: unexpected %s", type(exc).__name__)
                    log.debug("imap: unexpected error", exc_info=True)
                self._pause(attempt, type(exc).__name__)
            finally:
                self._close(client)
        if not self.state.startswith("stopped"):
            self.state = "stopped"
        log.info("imap: poller stopped")

    def _next_attempt(self, attempt: int) -> int:
        return 1 if self._session_ok else attempt + 1

    def _pause(self, attempt: int, reason: str) -> None:
        delay = backoff_delay(attempt, 1.0, self.settings.reconnect_max_seconds)
        self.state = f"reconnecting: {reason}"
        log.warning("imap: %s; connecting again in %.1f s (attempt %d)", reason, delay, attempt)
        self._stop.wait(delay)

    def _connect(self) -> IMAPClient:
        s = self.settings
        context = self.ssl_context or ssl.create_default_context(cafile=s.tls_ca_file or None)
        if s.security == "tls":
            client = IMAPClient(s.host, port=s.port, ssl=True, ssl_context=context, timeout=s.timeout_seconds)
        else:
            client = IMAPClient(s.host, port=s.port, ssl=False, timeout=s.timeout_seconds)
            if s.security == "starttls":
                client.starttls(context)
        try:
            client.login(s.username, s.password)
        except BaseException:
            self._close(client)
            raise
        return client

    @staticmethod
    def _close(client: IMAPClient | None) -> None:
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            with contextlib.suppress(Exception):  # the socket may be gone too
                client.shutdown()

    # -- one connection ------------------------------------------------------------------------

    def _select(self, client: IMAPClient) -> dict[bytes, Any]:
        try:
            return client.select_folder(self.settings.folder)  # type: ignore[no-any-return]
        except IMAPClient.AbortError:
            raise
        except IMAPClient.Error:
            # Retried like a network error (someone may create it), but said plainly.
            raise FolderUnavailable("the folder cannot be opened (does it exist?)") from None

    def _session(self, client: IMAPClient) -> None:
        s = self.settings
        info = self._select(client)
        uidvalidity = int(info[b"UIDVALIDITY"])
        if s.processed_action == "flag":
            # No PERMANENTFLAGS at all means every flag is kept (RFC 3501, 7.1).
            permanent = info.get(b"PERMANENTFLAGS")
            if permanent is not None and b"\\*" not in permanent and s.processed_flag.encode() not in permanent:
                raise ProcessedFlagRefused
        if s.processed_action == "move" and not client.folder_exists(s.move_to):
            client.create_folder(s.move_to)
            log.info("imap: created the folder processed messages are moved to")
        with self.sessions() as session:
            stored_validity, last_uid = repo.mailbox_position(session, mailbox=self.mailbox)
        if stored_validity != uidvalidity:
            if stored_validity is not None:
                log.warning(
                    "imap: UIDVALIDITY changed (%s -> %s, last uid was %s): reading the folder again from the "
                    "start; messages already stored are recognised and not stored twice",
                    stored_validity,
                    uidvalidity,
                    last_uid,
                )
            last_uid = 0
            with transaction(self.sessions) as session:
                repo.save_mailbox_position(
                    session, mailbox=self.mailbox, uidvalidity=uidvalidity, last_uid=0, now=self.clock()
                )
        self._uidvalidity, self._last_uid = uidvalidity, last_uid
        self._session_ok = True
        self.state = "running"
        log.info(
            "imap: connected (IDLE %s), uidvalidity %s, last uid %s",
            "yes" if client.has_capability("IDLE") and self.use_idle else "no",
            uidvalidity,
            last_uid,
        )
        self._finish_marking(client)
        while not self._stop.is_set():
            if self.leader is not None and not self.leader.try_acquire():
                raise _LostLeadership
            self._catch_up(client)
            self._wait_for_mail(client)

    def _finish_marking(self, client: IMAPClient) -> None:
        """Mark what an earlier run stored (UID <= last uid) but could not mark on the server."""
        last = self._last_uid
        if last <= 0:
            return
        s = self.settings
        criteria: list[Any] = ["UID", f"1:{last}"]
        if s.processed_action == "flag":
            criteria += ["UNKEYWORD", s.processed_flag]
        elif s.processed_action == "seen":
            criteria += ["UNSEEN"]
        else:  # move: whatever is still here (and not already copied and deleted) is unmoved
            criteria += ["UNDELETED"]
        pending = sorted(u for u in client.search(criteria) if u <= last)
        if not pending:
            return
        log.info("imap: marking %d messages stored earlier but not yet marked on the server", len(pending))
        for chunk in _chunks(pending, s.batch_size):
            self._mark(client, chunk)

    def _catch_up(self, client: IMAPClient) -> None:
        """Store everything above the last uid, batch by batch, until nothing is left."""
        s = self.settings
        # A folder deleted and made again under an open session is not always announced to it,
        # and STATUS may answer from the open session's view: SELECT again (cheap) and start over
        # when UIDVALIDITY changed.
        if int(self._select(client)[b"UIDVALIDITY"]) != self._uidvalidity:
            raise FolderReplaced
        total = done = 0
        while not self._stop.is_set():
            last = self._last_uid
            # "N:*" also matches the highest UID when it is below N: filter.
            uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
            if not uids:
                break
            if total == 0:
                total = len(uids)
                if total > s.batch_size:
                    log.info("imap: %d messages to read", total)
            else:
                total = done + len(uids)
            for chunk in _chunks(uids, s.batch_size):
                if self._stop.is_set():
                    raise _Stopping
                self._store_batch(client, chunk)
                done += len(chunk)
                if total > s.batch_size:
                    log.info("imap: %d/%d", done, total)

    def _store_batch(self, client: IMAPClient, uids: Sequence[int]) -> None:
        assert self._uidvalidity is not None
        uidvalidity = self._uidvalidity
        fetched = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        items: list[tuple[bytes, dict[str, Any]]] = []
        present: list[int] = []
        for uid in uids:
            data = fetched.get(uid)
            raw = data.get(b"BODY[]") if data else None
            if raw is None:  # expunged meanwhile, by someone else
                continue
            meta: dict[str, Any] = {
                "imap_folder": self.settings.folder,
                "imap_uid": uid,
                "imap_uidvalidity": uidvalidity,
            }
            internal = data.get(b"INTERNALDATE")
            if isinstance(internal, datetime):
                # imapclient gives naive local time unless told otherwise; make it aware.
                meta["imap_internaldate"] = (internal if internal.tzinfo else internal.astimezone()).isoformat()
            items.append((bytes(raw), meta))
            present.append(uid)
        new_last = max(uids)

        def advance(session: Any) -> None:
            repo.save_mailbox_position(
                session, mailbox=self.mailbox, uidvalidity=uidvalidity, last_uid=new_last, now=self.clock()
            )

        results: list[StoredReceipt] = self.receipts.store_batch_sync(
            self.channel, source="imap", items=items, also=advance, wake=False
        )
        self._last_uid = new_last
        new_ids = [r.id for r in results if not r.duplicate]
        self.stored += len(new_ids)
        self.duplicates += len(results) - len(new_ids)
        # Only now, with the batch committed, does the server learn that it was taken.
        self._mark(client, present)
        if new_ids:
            self.receipts.on_stored()
        log.info(
            "imap: uids %s-%s: %d new receipts%s, %d duplicates",
            uids[0],
            uids[-1],
            len(new_ids),
            f" ({min(new_ids)}-{max(new_ids)})" if new_ids else "",
            len(results) - len(new_ids),
        )

    def _mark(self, client: IMAPClient, uids: Sequence[int]) -> None:
        if not uids:
            return
        s = self.settings
        uids = list(uids)
        if s.processed_action == "flag":
            client.add_flags(uids, [s.processed_flag.encode()], silent=True)
        elif s.processed_action == "seen":
            client.add_flags(uids, [SEEN], silent=True)
        elif client.has_capability("MOVE"):
            client.move(uids, s.move_to)
        else:
            # No MOVE: copy, flag \Deleted and expunge exactly these UIDs (UIDPLUS); never a
            # plain EXPUNGE, which would also remove what others marked deleted.
            client.copy(uids, s.move_to)
            client.add_flags(uids, [DELETED], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            elif not self._warned_no_uidplus:
                self._warned_no_uidplus = True
                log.warning("imap: the server has neither MOVE nor UIDPLUS: moved messages stay flagged \\Deleted")

    def _wait_for_mail(self, client: IMAPClient) -> None:
        if self._stop.is_set():
            return
        s = self.settings
        if not (self.use_idle and client.has_capability("IDLE")):
            if self._stop.wait(s.poll_seconds):
                return
            client.noop()
            return
        client.idle()
        started = time.monotonic()
        done = False
        try:
            while not self._stop.is_set():
                remaining = s.idle_seconds - (time.monotonic() - started)
                if remaining <= 0:
                    break  # re-issue IDLE now and then, servers drop long-idle connections
                wait = min(IDLE_TICK, remaining)
                t0 = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if any(_is_news(r) for r in responses):
                    break
                if any(isinstance(r, tuple) and r and r[0] == b"BYE" for r in responses):
                    raise ConnectionAbortedError("the server is closing the connection")
                if not responses and time.monotonic() - t0 < wait / 2:
                    # idle_check returns at once with nothing when the server closed the
                    # connection: end IDLE and NOOP, which fails on a dead connection.
                    break
            done = True
        finally:
            if done:
                client.idle_done()
                client.noop()
            else:
                with contextlib.suppress(Exception):  # the original error is what matters
                    client.idle_done()


def _is_news(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")


def _chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
