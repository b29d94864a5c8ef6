"""/metrics: the Prometheus text format, with values read from the database at scrape time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func
from sqlmodel import Session, col, select

from ingest.metrics import latency_family, metrics_registry
from storage.db import transaction
from storage.models import Inquiry, Outbox, Receipt
from storage.types import utcnow
from tests.smtp_helpers import client_mail, send
from tests.support import wait_until


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample name -> {sorted labels: value}."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


@pytest.fixture
def settings(make_settings: Any, relay: Any) -> Any:
    return make_settings(outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"})


def test_metrics_match_the_database(settings: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(settings) as service:
        for i in range(3):
            send(
                service.smtp_port,
                # Three clients: one client's three mails would join one inquiry (issue 18).
                client_mail(
                    f"Neizvesti atkritumi {i}",
                    "Netiek izvesti atkritumi no Brīvības ielas 12.",
                    sender=f"client{i}@client.example",
                ),  # fmt: skip
            )
        wait_until(lambda: len(relay.staff()) == 3, what="three staff notifications")

        def all_sent() -> bool:
            with Session(service.engine) as session:
                return all(o.status == "sent" for o in session.exec(select(Outbox)).all())

        wait_until(all_sent, what="every outgoing message recorded as sent")
        # One inquiry overdue: its due time moved into the past, in a write transaction as the
        # service's own (a plain session's read-then-write meets SQLite's busy snapshot when the
        # service writes in between).
        with transaction(service.sessions) as session:
            first = session.exec(select(Inquiry).order_by(col(Inquiry.id))).first()
            assert first is not None
            first.due_at = utcnow() - timedelta(hours=1)
            session.add(first)
        metrics = scrape(service.http_port)  # type: ignore[arg-type]
        health = httpx.get(f"http://127.0.0.1:{service.http_port}/health", timeout=10).json()
        with Session(service.engine) as session:
            receipts = {
                (("channel", c), ("status", s)): float(n)
                for c, s, n in session.exec(
                    select(Receipt.channel, Receipt.status, func.count()).group_by(Receipt.channel, Receipt.status)
                )
            }
            outbox = {
                (("channel", c), ("status", s)): float(n)
                for c, s, n in session.exec(
                    select(Outbox.channel, Outbox.status, func.count()).group_by(Outbox.channel, Outbox.status)
                )
            }

    assert metrics["gk_database_up"] == {(): 1.0}
    assert metrics["gk_receipts"] == receipts == {(("channel", "email"), ("status", "processed")): 3.0}
    assert metrics["gk_receipts_parked"] == {(): 0.0}
    assert metrics["gk_outbox"] == outbox
    # 3 staff notifications and 3 acknowledgements (one per inquiry).
    assert (
        outbox
        == {(("channel", "email"), ("status", "sent")): float(len(relay.messages))}
        == {(("channel", "email"), ("status", "sent")): 6.0}
    )
    assert metrics["gk_outbox_oldest_due_seconds"] == {(): 0.0}
    assert metrics["gk_inquiries"] == {(("status", "open"),): 3.0}
    assert metrics["gk_inquiries_overdue"] == {(): 1.0}
    assert metrics.get("gk_media_fetch", {}) == {}
    # Every new inquiry's notification went out within the scrape window, in well under a minute.
    latency = metrics["gk_notification_latency_seconds_bucket"]
    assert latency[(("le", "+Inf"),)] == 3.0
    assert latency[(("le", "60.0"),)] == 3.0
    assert metrics["gk_notification_latency_seconds_gcount"] == {(): 3.0}
    assert 0 < metrics["gk_notification_latency_seconds_gsum"][()] < 180
    # This test's database decides the lock kind: PostgreSQL advisory locks or SQLite's "always".
    assert metrics["gk_leader"] == {(("role", "scheduler"),): 1.0}
    assert health["leadership"] == {"scheduler": "leader"}
    assert health["status"] == "ok"


def test_a_database_failure_is_reported_not_raised() -> None:
    def broken() -> Any:
        raise OSError("database gone")

    registry = metrics_registry(sessions=broken, clock=utcnow, leadership=lambda: {"imap": False})
    samples = {s.name: s.value for f in registry.collect() for s in f.samples}
    assert samples == {"gk_leader": 0.0, "gk_database_up": 0.0}


def test_latency_buckets_are_cumulative() -> None:
    family = latency_family([0.5, 3, 45, 4000])
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets["1.0"] == 1 and buckets["5.0"] == 2 and buckets["60.0"] == 3 and buckets["3600.0"] == 3
    assert buckets["+Inf"] == 4
