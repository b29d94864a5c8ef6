"""The HTTP front (issue 15, item 10): X-Forwarded-For believed only from [http] trusted_proxies
(uvicorn's own default trusts 127.0.0.1, so a client could write the audit log's address), HSTS
with secure_cookies, /metrics behind [http] metrics_token when one is set. Over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from ingest.api.tokens import create_token
from ingest.config import ConfigError
from storage.db import transaction
from storage.staff_models import AuditLog
from storage.types import utcnow
from tests.support import running_service

FORGED = {"X-Forwarded-For": "203.0.113.9"}


def listed_from(make_settings: Any, **http: Any) -> tuple[str | None, httpx.Response, httpx.Response]:
    """The audit row's address of an inquiry list asked with a forged X-Forwarded-For, and /metrics
    without and with the token."""
    with running_service(make_settings(http={"port": 0, **http})) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        with transaction(service.sessions) as session:
            token = create_token(session, employee_key="koordinatore", name="t", now=utcnow()).secret
        answer = httpx.get(f"{base}/api/v1/inquiries", headers={"Authorization": f"Bearer {token}", **FORGED})
        assert answer.status_code == 200, answer.text
        with service.sessions() as session:
            listed = select(AuditLog).where(AuditLog.action == "inquiry.list")
            row = session.exec(listed.order_by(col(AuditLog.id).desc())).first()
        bare = httpx.get(f"{base}/metrics")
        with_token = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer metrics-secret"})
        assert row is not None
        return row.remote_addr, bare, with_token


@pytest.mark.slow  # a running service
def test_forwarded_for_only_from_trusted_proxies(make_settings: Any) -> None:
    address, bare, _ = listed_from(make_settings)
    assert address == "127.0.0.1"
    assert bare.status_code == 200 and "Strict-Transport-Security" not in bare.headers  # open, as before
    address, _, _ = listed_from(make_settings, trusted_proxies=["127.0.0.1"])
    assert address == "203.0.113.9"


@pytest.mark.slow  # a running service
def test_metrics_token_and_hsts(make_settings: Any) -> None:
    _, bare, with_token = listed_from(make_settings, metrics_token="metrics-secret", secure_cookies=True)
    assert bare.status_code == 401
    assert with_token.status_code == 200 and "gk_" in with_token.text
    assert with_token.headers["Strict-Transport-Security"].startswith("max-age=")


def test_trusted_proxies_must_be_addresses(make_settings: Any) -> None:
    with pytest.raises(ConfigError, match=r"http\.trusted_proxies: 'proxy\.local' is not an IP address"):
        make_settings(http={"trusted_proxies": ["10.0.0.0/8", "proxy.local"]})
