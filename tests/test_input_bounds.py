"""Bounds on input (issue 15, items 7 and 9): the time of a logged call or visit lies in a
configurable window, every day asked for lies in 2000-2100, a signed WhatsApp Cloud API body
nests only so deep, and the dashboard's 500 page has the security headers. Over real HTTP on
both databases."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ingest.api.tokens import create_token
from ingest.dashboard import overview
from ingest.dashboard.web import SECURITY_HEADERS
from storage.db import transaction
from storage.types import utcnow
from tests.dashboard_helpers import NOW, PASSWORD, Clock, csrf_of, give_passwords, login
from tests.support import running_service

SECRET = "cloud-app-secret"
CALL = {"channel": "phone", "phone": "+37120000001", "text": "Jautā par apkures rēķinu."}


@contextmanager
def service_with(make_settings: Any, **sections: Any) -> Iterator[tuple[Any, str, str]]:
    """The service on the test clock, the coordinator's password set; its base URL and an API token."""
    cloud = {"enabled": True, "app_secret": SECRET, "verify_token": "v"}
    with running_service(make_settings(whatsapp_cloud=cloud, **sections), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "koordinatore")
        with transaction(service.sessions) as session:
            token = create_token(session, employee_key="koordinatore", name="t", now=utcnow()).secret
        yield service, f"http://127.0.0.1:{service.http_port}", token


def api(base: str, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs)


@pytest.mark.slow  # a running service
def test_a_logged_call_lies_within_the_window(make_settings: Any) -> None:
    with service_with(make_settings, interactions={"max_age_days": 10}) as (_service, base, token):

        def log(at: str) -> httpx.Response:
            return api(base, token, "POST", "/api/v1/interactions", json={**CALL, "at": at})

        refused = {
            "0001-01-01T00:00:00+14:00": "back",
            "1970-01-01T00:00:00+00:00": "10 days back",
            (NOW - timedelta(days=11)).isoformat(): "10 days back",
            (NOW + timedelta(minutes=6)).isoformat(): "future",
            "9999-12-31T23:59:59-12:00": "future",
        }
        for at, why in refused.items():
            answer = log(at)
            assert answer.status_code == 422, (at, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "invalid_request" and why in error["message"], answer.text
        for at in ((NOW - timedelta(days=9)).isoformat(), (NOW + timedelta(minutes=4)).isoformat()):
            assert log(at).status_code == 201, at

        client, _ = login(base, "koordinatore", PASSWORD)
        form = csrf_of(client.get("/dashboard/interactions").text)
        for at, status in (("2026-02-20T10:00", 422), ("2026-03-11T11:00", 422), ("0001-01-01T00:00", 422),
                           ("gestern", 422), ("2026-03-10T16:30", 303), ("", 303)):  # fmt: skip
            answer = client.post("/dashboard/interactions", data={**CALL, "at": at, "csrf": form})
            assert answer.status_code == status, (at, answer.text)
            assert answer.headers["Content-Security-Policy"]


@pytest.mark.slow  # a running service
def test_days_out_of_range_are_refused_not_crashed(make_settings: Any) -> None:
    with service_with(make_settings) as (_service, base, token):
        for query in ("received_from=0001-01-01", "received_to=9999-12-31", "received_from=1999-12-31"):
            answer = api(base, token, "GET", f"/api/v1/inquiries?{query}")
            assert answer.status_code == 422, (query, answer.text)
        assert api(base, token, "GET", "/api/v1/inquiries?received_from=2026-01-01").status_code == 200
        absence = {"employee": "siltums", "starts_on": "2026-03-12", "ends_on": "9999-12-31"}
        assert api(base, token, "POST", "/api/v1/absences", json=absence).status_code == 422

        client, _ = login(base, "koordinatore", PASSWORD)
        for path in ("/dashboard", "/dashboard/inquiries"):
            for period in ("from=0001-01-01&to=0001-01-02", "from=9999-12-30&to=9999-12-31"):
                answer = client.get(f"{path}?{period}")
                assert answer.status_code == 400, (path, period, answer.status_code)
                assert 'id="problem"' in answer.text


@pytest.mark.slow  # a running service
def test_a_deeply_nested_signed_cloud_body_is_a_400(make_settings: Any) -> None:
    with service_with(make_settings) as (_service, base, _token):
        for body in (b"[" * 100_000 + b"]" * 100_000, json.dumps({"entry": [{"x": [[[[[[[[0]]]]]]]]}] * 1}).encode()):
            nested = body if body.startswith(b"[") else b'{"object":"x","deep":' + b"[" * 500 + b"]" * 500 + b"}"
            header = "sha256=" + hmac.new(SECRET.encode(), nested, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": header}
            answer = httpx.post(f"{base}/webhooks/whatsapp-cloud", content=nested, timeout=30, headers=headers)
            assert answer.status_code == 400, answer.text


@pytest.mark.slow  # a running service
def test_the_dashboard_500_page_has_the_security_headers(make_settings: Any, monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(overview, "office_figures", broken)
    with service_with(make_settings) as (_service, base, _token):
        client, _ = login(base, "koordinatore", PASSWORD)
        answer = client.get("/dashboard")
        assert answer.status_code == 500
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, name
        assert 'id="problem"' in answer.text and "a bug" not in answer.text
