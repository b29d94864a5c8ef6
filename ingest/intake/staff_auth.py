"""Checking an employee's password for SMTP AUTH on the submission port: the dashboard's rule.

The same credentials as the dashboard (the scrypt hash ``ingest password set`` stores, checked by
``ingest/dashboard/passwords.py``) and the same limiter instance: every attempt is counted before
its password is checked, per employee key and client address and per key, so wrong passwords over
SMTP and at the login form add up to one limit. The login may be the employee key or the
employee's e-mail address (what mail programs offer); both count as the key. The password is
checked in a thread: scrypt takes tens of milliseconds, which the event loop serving every SMTP
session and the HTTP server must not wait for. Attempts write audit rows as the dashboard's do
(``smtp.auth``, ``smtp.auth_failed``, ``smtp.auth_refused``), never the password.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.dashboard.passwords import dummy_hash, refusal
from ingest.dashboard.sessions import LoginLimiter
from ingest.inquiries import audit
from storage import inquiry_repo, repo
from storage.db import SessionFactory, transaction
from storage.models import Employee

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffLogin:
    """Who a session authenticated as (aiosmtpd keeps it as the session's ``auth_data``)."""

    employee_key: str
    mechanism: str


@dataclass(frozen=True)
class Verdict:
    login: StaffLogin | None  # None: refused
    wait: timedelta | None = None  # over the limit: how long until another attempt may be made


class StaffAuthenticator:
    def __init__(self, *, sessions: SessionFactory, limiter: LoginLimiter, clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._limiter = limiter
        self._clock = clock
        self._decoy = dummy_hash()  # checked for an unknown login: the timing tells nothing

    async def check(self, login: bytes, password: bytes, *, mechanism: str, address: str | None) -> Verdict:
        """Count the attempt, then check the password; the verdict."""
        name = login.decode("utf-8", "replace").strip()[:254]
        employee = await asyncio.to_thread(self._employee, name)
        key = employee.key if employee is not None else name
        now = self._clock()
        wait = self._limiter.reserve(key, address, now)
        if wait is not None:
            await asyncio.to_thread(self._audit, employee, "smtp.auth_refused", address, {"reason": "rate_limited"})
            return Verdict(login=None, wait=wait)
        text = password.decode("utf-8", "replace")  # passwords are set as text: bytes that are not UTF-8 match none
        reason = await asyncio.to_thread(refusal, employee, text, decoy=self._decoy)
        if employee is None or reason is not None:
            await asyncio.to_thread(self._audit, employee, "smtp.auth_failed", address, {"reason": reason})
            return Verdict(login=None)
        self._limiter.succeeded(key, address, now)
        await asyncio.to_thread(self._audit, employee, "smtp.auth", address, {"mechanism": mechanism})
        return Verdict(login=StaffLogin(employee_key=employee.key, mechanism=mechanism))

    def _employee(self, name: str) -> Employee | None:
        if not name:
            return None
        with self._sessions() as session:
            found = inquiry_repo.employee_by_key(session, key=name)
            if found is None and "@" in name:
                found = repo.employee_by_email(session, email=name)
            if found is not None:
                session.expunge(found)
            return found

    def _audit(self, employee: Employee | None, action: str, address: str | None, detail: dict[str, object]) -> None:
        # The typed login only when it is an employee's: an unknown one may be a password typed in
        # the wrong box.
        actor = employee.key if employee is not None else "unknown"
        with transaction(self._sessions) as session:
            audit.record_action(session, actor=actor, action=action, now=self._clock(), detail=dict(detail),
                                remote_addr=address)  # fmt: skip
