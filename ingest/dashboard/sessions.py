"""Dashboard logins: server-side sessions and the limit on failed attempts.

A session is a row found by the SHA-256 of the cookie's random token; it ends at
logout, after ``idle`` without a request, or ``lifetime`` after the login, and when
its employee is no longer active or has lost their password. Failed logins are
counted per employee key in this process's memory: enough against guessing
through one process (several processes each allow the limit: documented, accepted).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from storage import dashboard_repo
from storage.dashboard_models import DashboardSession
from storage.models import Employee

# last_seen_at is written at most this often per session: reading pages must not turn into a write
# per request (SQLite has one writer at a time).
LAST_SEEN_GRANULARITY = timedelta(minutes=1)


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str  # for the cookie only; never stored
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class LiveSession:
    id: str
    employee: Employee
    csrf_token: str


def start_session(
    session: Session, *, employee_key: str, now: datetime, idle: timedelta, lifetime: timedelta
) -> NewSession:
    # Expired rows of anyone are dropped here: logins are rare, so this keeps the table small
    # without a job of its own.
    dashboard_repo.delete_expired_sessions(session, now=now, idle=idle)
    token = secrets.token_urlsafe(32)
    row = DashboardSession(
        id=session_id(token),
        employee_key=employee_key,
        created_at=now,
        expires_at=now + lifetime,
        last_seen_at=now,
        csrf_token=secrets.token_urlsafe(32),
    )
    session.add(row)
    return NewSession(token=token, csrf_token=row.csrf_token, expires_at=row.expires_at)


def resolve_session(session: Session, *, token: str, now: datetime, idle: timedelta) -> LiveSession | None:
    """The live session of this cookie token and its employee, or None (unknown, expired, idle)."""
    if not token or len(token) > 200:
        return None
    found = dashboard_repo.session_with_employee(session, session_id=session_id(token))
    if found is None:
        return None
    row, employee = found
    if row.expires_at <= now or row.last_seen_at + idle <= now or not employee.active or not employee.password_hash:
        session.delete(row)
        return None
    if now - row.last_seen_at >= LAST_SEEN_GRANULARITY:
        row.last_seen_at = now
        session.add(row)
    return LiveSession(id=row.id, employee=employee, csrf_token=row.csrf_token)


def end_session(session: Session, *, token: str) -> None:
    dashboard_repo.delete_session(session, session_id=session_id(token))


def end_sessions_of(session: Session, *, employee_key: str) -> int:
    """Log an employee out everywhere (a new password is set)."""
    return dashboard_repo.delete_sessions_of(session, employee_key=employee_key)


class LoginLimiter:
    """At most ``max_failures`` failed logins per key within ``window``; thread-safe, in memory."""

    def __init__(
        self, *, max_failures: int = 5, window: timedelta = timedelta(minutes=15), max_keys: int = 10_000
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, key: str, now: datetime) -> timedelta | None:
        """None if ``key`` may try now; otherwise how long until it may."""
        with self._lock:
            times = self._recent(key.lower(), now)
            if len(times) < self.max_failures:
                return None
            return times[0] + self.window - now

    def failed(self, key: str, now: datetime) -> None:
        key = key.lower()
        with self._lock:
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            self._failures.move_to_end(key)
            # Bounded memory whatever is typed as the key: the least recently failing go first.
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key.lower(), None)
