"""Prometheus metrics, read from the database at scrape time.

Every value comes from the shared database when Prometheus asks, not from counters kept in the
process: two processes on one PostgreSQL database therefore report the same numbers, a restart
loses nothing, and work done by the CLI (``ingest retry``, ``import-calls``) shows too. Only the
leadership gauge is about the process itself.

The queries (storage/metrics_repo.py) are GROUP BY counts on status columns (most of them served
by the status indexes) and one bounded query for the notification latency. A failing database
gives ``gk_database_up 0`` and no other values, never a failed scrape.

The registry is made per application (``metrics_registry``), never the library's global one, so
tests can run several services side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlmodel import Session

from storage import metrics_repo
from storage.db import SessionFactory
from storage.models import ReceiptStatus

log = logging.getLogger(__name__)

# Upper bounds (seconds) of the notification latency buckets: seconds when all is well, minutes
# to an hour when the relay or a worker was down.
LATENCY_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# The latency is measured over the staff notifications sent in this window, at most this many.
LATENCY_WINDOW = timedelta(hours=1)
LATENCY_LIMIT = 5000


class DatabaseCollector(Collector):
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Callable[[], datetime],
        leadership: Callable[[], Mapping[str, bool]] = dict,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.leadership = leadership

    def describe(self) -> Iterator[Metric]:
        # Without describe() the registry would call collect() at registration, i.e. query the
        # database while the app is being built.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        leader = GaugeMetricFamily(
            "gk_leader", "1 if this process runs the role (IMAP poller, scheduler)", labels=["role"]
        )
        for role, held in sorted(self.leadership().items()):
            leader.add_metric([role], 1.0 if held else 0.0)
        yield leader
        up = GaugeMetricFamily("gk_database_up", "1 if the database answered the metrics queries")
        try:
            with self.sessions() as session:
                families = list(self._from_database(session, self.clock()))
        except Exception as exc:  # noqa: BLE001 - a scrape reports, never raises
            log.warning("metrics: database query failed: %s", type(exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _from_database(self, session: Session, now: datetime) -> Iterator[Metric]:
        receipts = GaugeMetricFamily(
            "gk_receipts", "Stored receipts by channel and status", labels=["channel", "status"]
        )
        parked = 0
        for channel, status, n in metrics_repo.receipts_by_channel_and_status(session):
            receipts.add_metric([channel, status], n)
            if status == ReceiptStatus.PARKED.value:
                parked += n
        yield receipts
        yield GaugeMetricFamily(
            "gk_receipts_parked", "Receipts that failed and wait for a retry or an operator", value=parked
        )
        what = "Automatic e-mail by the reason it was found automatic, and whether it was kept without an inquiry"
        automatic = GaugeMetricFamily("gk_automatic_mail", what, labels=["reason", "kept"])
        for reason, kept, n in metrics_repo.automatic_mail_by_reason(session):
            automatic.add_metric([reason, "yes" if kept else "no"], n)
        yield automatic

        outbox = GaugeMetricFamily("gk_outbox", "Outgoing messages by channel and status", labels=["channel", "status"])
        for channel, status, n in metrics_repo.outbox_by_channel_and_status(session):
            outbox.add_metric([channel, status], n)
        yield outbox
        oldest = metrics_repo.oldest_due_outbox_at(session, now=now)
        yield GaugeMetricFamily(
            "gk_outbox_oldest_due_seconds",
            "How long the oldest due outgoing message has waited to be sent (0 when none)",
            value=(now - oldest).total_seconds() if oldest is not None else 0.0,
        )

        inquiries = GaugeMetricFamily("gk_inquiries", "Inquiries by status", labels=["status"])
        for status, n in metrics_repo.inquiries_by_status(session):
            inquiries.add_metric([status], n)
        yield inquiries
        overdue = metrics_repo.overdue_inquiry_count(session, now=now)
        yield GaugeMetricFamily("gk_inquiries_overdue", "Open inquiries past their due time", value=overdue)

        media = GaugeMetricFamily("gk_media_fetch", "WhatsApp/SMS media downloads by status", labels=["status"])
        for status, n in metrics_repo.media_fetches_by_status(session):
            media.add_metric([status], n)
        yield media

        yield self._latency(session, now)

    def _latency(self, session: Session, now: datetime) -> Metric:
        """New inquiry to its staff notification: first receipt stored -> first notice sent."""
        rows = metrics_repo.staff_notification_times(session, sent_since=now - LATENCY_WINDOW, limit=LATENCY_LIMIT)
        seconds = [
            max(0.0, (sent - received).total_seconds())
            for sent, received in rows
            if sent is not None and received is not None
        ]
        return latency_family(seconds)


def latency_family(seconds: Sequence[float]) -> Metric:
    # A gauge histogram: a distribution over a sliding window, which may go down between scrapes
    # (unlike a histogram's counters).
    buckets = [(str(float(le)), float(sum(1 for s in seconds if s <= le))) for le in LATENCY_BUCKETS]
    buckets.append(("+Inf", float(len(seconds))))
    return GaugeHistogramMetricFamily(
        "gk_notification_latency_seconds",
        "From a new inquiry's first receipt to its staff notification being sent; "
        f"notifications sent in the last {int(LATENCY_WINDOW.total_seconds())} s",
        buckets=buckets,
        gsum_value=float(sum(seconds)),
    )


def metrics_registry(
    *, sessions: SessionFactory, clock: Callable[[], datetime], leadership: Callable[[], Mapping[str, bool]] = dict
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(sessions=sessions, clock=clock, leadership=leadership))
    return registry
