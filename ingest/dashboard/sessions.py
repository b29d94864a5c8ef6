"""Dashboard logins: server-side sessions and the limit on failed attempts.

A session is a row found by the SHA-256 of the cookie's random token; it ends at
logout, after ``idle`` without a request, or ``lifetime`` after the login, and when
its employee is no longer active or has lost their password. Login attempts are
counted per employee key and client address, and per key, in this process's memory
(several processes each allow the limit: documented in the README, accepted).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

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
    """Login attempts per (employee key, client address) and per key, counted before the password
    is checked; thread-safe, in this process's memory.

    :meth:`reserve` checks and counts an attempt in one step under the lock, so parallel requests
    cannot all pass the check while the first ones are still in scrypt. At most ``max_failures``
    attempts per key from one address within ``window``: a stranger locks out only their own
    address, never the employee at the office. ``max_per_key`` bounds the attempts on one key from
    all addresses together, so guessing from many addresses stays bounded too. A successful login
    clears its address's count and gives back its own attempt.
    """

    def __init__(
        self,
        *,
        max_failures: int = 5,
        max_per_key: int = 50,
        window: timedelta = timedelta(minutes=15),
        max_keys: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.max_per_key = max_per_key
        self.window = window
        self.max_keys = max_keys
        self._pairs: OrderedDict[tuple[str, str], deque[datetime]] = OrderedDict()
        self._keys: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, times: deque[datetime] | None, now: datetime) -> deque[datetime]:
        times = times if times is not None else deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def reserve(self, key: str, address: str | None, now: datetime) -> timedelta | None:
        """Count one attempt of ``key`` from ``address`` now and return None, or refuse it (counting
        nothing) and return how long until one may be made."""
        key, pair = key.lower(), (key.lower(), address or "")
        with self._lock:
            by_pair = self._recent(self._pairs.get(pair), now)
            by_key = self._recent(self._keys.get(key), now)
            waits = []
            if len(by_pair) >= self.max_failures:
                waits.append(by_pair[0] + self.window - now)
            if len(by_key) >= self.max_per_key:
                waits.append(by_key[0] + self.window - now)
            if waits:
                return max(waits)
            by_pair.append(now)
            by_key.append(now)
            _keep(self._pairs, pair, by_pair, self.max_keys)
            _keep(self._keys, key, by_key, self.max_keys)
            return None

    def succeeded(self, key: str, address: str | None, reserved_at: datetime) -> None:
        """The reserved attempt let the employee in: their address starts afresh, and the attempt
        no longer counts against the key (the failures of others still do)."""
        key = key.lower()
        with self._lock:
            self._pairs.pop((key, address or ""), None)
            times = self._keys.get(key)
            if times is not None and reserved_at in times:
                times.remove(reserved_at)


_Name = TypeVar("_Name", str, tuple[str, str])


def _keep(table: OrderedDict[_Name, deque[datetime]], name: _Name, times: deque[datetime], max_entries: int) -> None:
    # Bounded memory whatever is typed as the key: the least recently tried go first.
    table[name] = times
    table.move_to_end(name)
    while len(table) > max_entries:
        table.popitem(last=False)
