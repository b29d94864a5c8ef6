"""The dashboard's login limit under parallel attempts, over real HTTP from several client addresses.

The attempts come from 127.0.0.x source addresses (all loopback on Linux), so the running service
sees them as different clients. Password checks are counted where they happen (scrypt in
ingest/dashboard/passwords.py, for the login form and SMTP AUTH alike) and by the failed-login audit rows.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from ingest.dashboard import passwords as password_module
from storage.staff_models import AuditLog
from tests.dashboard_helpers import NOW, PASSWORD, Clock, csrf_of, give_passwords
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service


def attempt(base: str, address: str, key: str, password: str) -> int:
    """One login from ``address``: the form (for its CSRF field and cookie), then the POST; the status."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=base, timeout=60, transport=transport) as client:
        form = client.get("/dashboard/login")
        assert form.status_code == 200, form.text
        response = client.post(
            "/dashboard/login",
            data={"employee": key, "password": password, "csrf": csrf_of(form.text), "next": "/dashboard"},
        )
        return response.status_code


def in_parallel(calls: list[Callable[[], int]]) -> Counter[int]:
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], int]) -> int:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return Counter(pool.map(run, calls))


def failed_logins(service: Any) -> list[AuditLog]:
    with service.sessions() as session:
        stmt = select(AuditLog).where(AuditLog.action == "dashboard.login_failed").order_by(col(AuditLog.id))
        return list(session.exec(stmt).all())


@pytest.mark.slow  # a running service, about a hundred logins in parallel
def test_parallel_wrong_passwords_get_the_limit_of_checks_and_lock_only_their_address(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real_verify = password_module.verify_password

    def counted(password: str, stored: str | None) -> bool:
        checks.append(password)
        return real_verify(password, stored)

    monkeypatch.setattr(password_module, "verify_password", counted)
    settings = settings_with_admin(make_settings)
    with running_service(settings, clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "valde")
        base = f"http://127.0.0.1:{service.http_port}"

        # 30 wrong passwords at once from one address: 5 are checked, the rest refused unchecked.
        statuses = in_parallel([lambda i=i: attempt(base, "127.0.0.1", "valde", f"guess {i}") for i in range(30)])
        assert statuses == {401: 5, 429: 25}
        assert len(checks) == 5 and len(failed_logins(service)) == 5
        # That address is locked out, even with the right password (and it is not checked)...
        assert attempt(base, "127.0.0.1", "valde", PASSWORD) == 429
        assert len(checks) == 5
        # ...but the board member at the office, on another address, logs in.
        assert attempt(base, "127.0.0.2", "valde", PASSWORD) == 303
        assert len(checks) == 6

        # From many addresses at once: each address gets at most 5, and the key at most 50 in all.
        calls = [
            lambda n=n, i=i: attempt(base, f"127.0.0.{n}", "valde", f"spread {n} {i}")
            for n in range(3, 15)
            for i in range(6)
        ]
        statuses = in_parallel(calls)
        assert statuses[401] == 45 and statuses[429] == 72 - 45
        assert len(failed_logins(service)) == 50 and len(checks) == 6 + 45
        per_address = Counter(a.remote_addr for a in failed_logins(service))
        assert max(per_address.values()) == 5
        # Now the key is at its ceiling for the window, from everywhere.
        assert attempt(base, "127.0.0.2", "valde", PASSWORD) == 429
        assert len(checks) == 51
