"""`serve --roles` / [cluster] roles: a process runs only what it is given, and /health says so."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ingest.cli import build_parser
from tests.support import wait_until


def health(service: Any) -> dict[str, Any]:
    return httpx.get(f"http://127.0.0.1:{service.http_port}/health", timeout=10).json()  # type: ignore[no-any-return]


def test_a_web_only_process_receives_and_leaves_the_rest(make_settings: Any, service_factory: Any) -> None:
    with service_factory(make_settings(cluster={"roles": ["web"]})) as service:
        body = health(service)
        assert service.smtp_port is not None
    assert body["components"]["smtp_listener"] == "listening"
    assert {body["components"][k] for k in ("pipeline", "outbox", "deadlines")} == {"disabled"}
    assert body["leadership"] == {}
    assert body["status"] == "ok"


def test_a_worker_process_has_no_listener(make_settings: Any, service_factory: Any) -> None:
    with service_factory(make_settings(cluster={"roles": ["worker", "scheduler"]})) as service:
        # The scheduler's lock is taken at its first sweep, right after start.
        body = wait_until(
            lambda: (h := health(service))["leadership"].get("scheduler") == "leader" and h, what="the lead"
        )
        assert service.smtp_port is None
    assert body["components"]["smtp_listener"] == "disabled"
    assert body["components"]["pipeline"] == "running"
    assert body["leadership"] == {"scheduler": "leader"}
    assert body["status"] == "ok"


def test_serve_roles_argument() -> None:
    args = build_parser().parse_args(["serve", "--roles", "worker, imap"])
    assert args.roles == ["worker", "imap"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--roles", "web,mail"])
