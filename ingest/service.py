"""One process of the service: database, receivers, pipeline, outbox, scheduler, HTTP, run together.

Everything is built from the settings passed in; nothing is global, so tests
can run several services side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from ingest.api.routers import mount_staff_api
from ingest.assembly import (
    build_pipeline,
    dashboard_options,
    mail_transport,
    media_fetcher,
    preparing_pool,
    staff_api_context,
    sync_employees,
)
from ingest.config import Settings
from ingest.dashboard.routers import mount_dashboard
from ingest.dashboard.sessions import LoginLimiter
from ingest.inquiries.scheduled import DeadlineKeeper
from ingest.intake.imap_poller import ImapPoller
from ingest.intake.receipts import ReceiptStore
from ingest.intake.smtp_listener import InboundSmtpHandler, Raw, smtp_protocol_factory
from ingest.intake.smtp_submission import SubmissionHandler, submission_protocol_factory
from ingest.intake.spool import Spool
from ingest.intake.staff_auth import StaffAuthenticator
from ingest.intake.twilio_webhooks import TwilioWebhooks
from ingest.intake.whatsapp_cloud_webhook import WhatsAppCloudWebhook
from ingest.metrics import metrics_registry
from ingest.outgoing.outbox import OutboxSender
from ingest.outgoing.twilio_transport import ChannelOutboxSender, TwilioTransport
from ingest.pipeline.prepare import PreparingPool
from ingest.pipeline.staff_proof import NOTHING_ACCEPTED, SUBMISSION_SOURCE
from ingest.queues.workers import Worker
from ingest.scheduled_jobs import JobsInFlight
from ingest.web import create_app
from storage.db import make_engine, migrate, session_factory
from storage.leader import LeaderLock, leader_lock
from storage.types import utcnow

log = logging.getLogger(__name__)


class Service:
    """One process of the service. ``run`` serves until ``request_stop`` or a signal."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], datetime] = utcnow, engine: Engine | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = engine or make_engine(settings.database_url(), pool_size=settings.database.pool_size)
        self.sessions = session_factory(self.engine)
        # What this process runs (config [cluster], `serve --roles`); the deadline scheduler and
        # each IMAP mailbox run in one process at a time: the holder of their lock.
        self.roles = frozenset(settings.cluster.roles)
        self.scheduler_lock: LeaderLock = leader_lock(self.engine, role="scheduler", name="scheduler")
        self.imap_lock: LeaderLock | None = None
        self.transport = mail_transport(settings)
        self.pipeline = build_pipeline(settings, self.sessions, clock)
        self.preparing: PreparingPool | None = None
        self._build_queues(settings)
        self._build_receivers(settings)
        self.app = self._build_app(settings)
        self._smtp_server: asyncio.base_events.Server | None = None
        self._submission_server: asyncio.base_events.Server | None = None
        self._http: uvicorn.Server | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._jobs: JobsInFlight | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.smtp_port: int | None = None
        self.submission_port: int | None = None
        self.http_port: int | None = None
        self._stop_requested = False
        self.started = asyncio.Event()

    def _build_queues(self, settings: Settings) -> None:
        """The work queues and their workers: pipeline, outbox, deadline sweep, media downloads."""
        clock = self.clock
        # WhatsApp and SMS go out through Twilio when it is enabled (ingest/outgoing/twilio_transport.py).
        self.twilio_transport: TwilioTransport | None = (
            TwilioTransport.from_settings(settings.twilio) if settings.twilio.enabled else None
        )
        texting = dict.fromkeys(("sms", "whatsapp"), self.twilio_transport) if self.twilio_transport else {}
        self.outbox: OutboxSender = ChannelOutboxSender(
            sessions=self.sessions,
            transports={"email": self.transport},
            retry=settings.outbox,
            clock=clock,
            payload_transports=texting,
        )
        self.deadlines = DeadlineKeeper(
            sessions=self.sessions,
            notices=self.pipeline.notices,
            calendar=self.pipeline.router.calendar,
            clock=clock,
            fallback_employee=settings.routing.fallback_employee,
            board_member=settings.routing.board_member,
        )
        self.pipeline_worker = Worker("pipeline", self.pipeline.process_due)
        self.outbox_worker = Worker("outbox", self.outbox.deliver_due)
        self.deadline_worker = Worker("deadlines", self._sweep_deadlines)
        # Media clients sent through Twilio, downloaded outside the webhook request.
        self.media = media_fetcher(settings, self.sessions, clock)
        self.media_worker = Worker("media", self.media.fetch_due if self.media is not None else lambda: 0)
        self.pipeline.on_media = self.media_worker.wake
        self.pipeline.on_outbox = self.outbox_worker.wake
        self.deadlines.on_outbox = self.outbox_worker.wake

    def _build_receivers(self, settings: Settings) -> None:
        """What takes messages in: the SMTP listener, the IMAP poller, the webhooks."""
        self.receipts = ReceiptStore(sessions=self.sessions, clock=self.clock, on_stored=self.pipeline_worker.wake)
        self.email_channel = self.pipeline.channels["email"]
        # The IMAP receiver, only when configured; it stores receipts of the same e-mail channel.
        self.imap_poller: ImapPoller | None = None
        if settings.imap.enabled and "imap" in self.roles:
            self.imap_lock = leader_lock(self.engine, role="imap", name=f"imap:{settings.imap.mailbox_key()}")
            self.imap_poller = ImapPoller(
                settings.imap,
                sessions=self.sessions,
                receipts=self.receipts,
                channel=self.email_channel,
                clock=self.clock,
                leader=self.imap_lock,
                leader_retry_seconds=settings.cluster.leader_retry_seconds,
            )
        self.smtp_handler = InboundSmtpHandler(recipients=settings.smtp_listener.recipients, store=self._store_email,
                                               max_recipients=settings.smtp_listener.max_recipients)  # fmt: skip
        # Large messages are written here while they arrive (ingest/intake/spool.py).
        self.smtp_spool = Spool(settings.service.data_dir / "smtp-spool",
                                threshold=settings.smtp_listener.spool_above_bytes)  # fmt: skip
        # Failed dashboard logins and failed SMTP AUTH count against one limit.
        self.login_limiter = LoginLimiter()
        self.submission_handler: SubmissionHandler | None = None
        if settings.smtp_submission.enabled and "web" in self.roles:
            authenticator = StaffAuthenticator(sessions=self.sessions, limiter=self.login_limiter, clock=self.clock)
            self.submission_handler = SubmissionHandler(
                recipients=settings.smtp_listener.recipients, store=self._store_submitted,
                authenticator=authenticator, max_recipients=settings.smtp_listener.max_recipients,
            )  # fmt: skip
        web = "web" in self.roles
        self.twilio_webhooks: TwilioWebhooks | None = None
        if settings.twilio.enabled and web:
            self.twilio_webhooks = TwilioWebhooks(
                settings.twilio,
                receipts=self.receipts,
                channels=self.pipeline.channels,
                sessions=self.sessions,
                clock=self.clock,
            )
        self.whatsapp_cloud_webhook: WhatsAppCloudWebhook | None = None
        if settings.whatsapp_cloud.enabled and web:
            self.whatsapp_cloud_webhook = WhatsAppCloudWebhook(
                settings.whatsapp_cloud, receipts=self.receipts, channels=self.pipeline.channels
            )

    def _build_app(self, settings: Settings) -> FastAPI:
        """The HTTP application: health, metrics, the webhooks, the staff API and the dashboard."""
        routers: list[APIRouter] = []
        if self.twilio_webhooks is not None:
            routers.append(self.twilio_webhooks.router(voice_status_path=settings.calls.voice_status_path))
        if self.whatsapp_cloud_webhook is not None:
            routers.append(self.whatsapp_cloud_webhook.router())
        app = create_app(
            sessions=self.sessions,
            components=self.component_states,
            routers=routers,
            metrics=metrics_registry(sessions=self.sessions, clock=self.clock, leadership=self.leadership_held),
            leadership=self.leadership_states,
            metrics_token=settings.http.metrics_token,
            hsts=settings.http.secure_cookies,
        )
        context = staff_api_context(settings, pipeline=self.pipeline, wake_outbox=self.outbox_worker.wake)
        # The staff API (/api/v1): always on; every route needs a token (`ingest token create`).
        mount_staff_api(app, context)
        # The dashboard (/dashboard): HTML pages behind a password login (`ingest password set`).
        mount_dashboard(app, context, dashboard_options(settings), limiter=self.login_limiter)
        return app

    def _sweep_deadlines(self) -> int:
        if not self.scheduler_lock.try_acquire():
            return 0  # another process keeps the deadlines; this one stands by
        self.deadlines.sweep()
        return 0  # a sweep does all that is due; the worker need not go again at once

    def _apply_retention(self) -> None:
        """The daily retention run (ingest/retention.py), in the scheduler's process only."""
        from ingest.privacy.retention import run_retention

        if not self.scheduler_lock.try_acquire():
            return  # the process holding the scheduler role does it
        try:
            run_retention(self.sessions, self.settings.retention, now=self.clock())
        except Exception as exc:  # noqa: BLE001 - tomorrow's run tries again; the service goes on
            # The type only: a database error's text carries the row's values.
            log.error("retention run failed (%s); the next daily run tries again", type(exc).__name__)

    @property
    def workers(self) -> tuple[Worker, ...]:
        # Without Twilio there is no media to fetch: no media worker.
        media = (self.media_worker,) if self.media is not None else ()
        return (self.pipeline_worker, self.outbox_worker, self.deadline_worker, *media)

    def _runs(self, worker: Worker) -> bool:
        """Whether this process runs the worker: the deadline sweep is the scheduler role, the rest work."""
        return ("scheduler" if worker is self.deadline_worker else "worker") in self.roles

    def _claim_scheduler(self) -> None:
        """Take over the deadlines when their process is gone (run every leader_retry_seconds)."""
        was = self.scheduler_lock.held
        if self.scheduler_lock.try_acquire() and not was:
            self.deadline_worker.wake()

    def _leader_locks(self) -> list[LeaderLock]:
        locks = [self.scheduler_lock] if "scheduler" in self.roles else []
        return locks + ([self.imap_lock] if self.imap_lock is not None else [])

    def leadership_held(self) -> dict[str, bool]:
        return {lock.role: lock.held for lock in self._leader_locks()}

    def leadership_states(self) -> dict[str, str]:
        return {role: "leader" if held else "follower" for role, held in self.leadership_held().items()}

    async def _store_email(self, raw: Raw, meta: dict[str, object]) -> object:
        return await self.receipts.store(self.email_channel, source="smtp", raw=raw, meta=dict(meta))

    async def _store_submitted(self, raw: Raw, meta: dict[str, object]) -> object:
        return await self.receipts.store(self.email_channel, source=SUBMISSION_SOURCE, raw=raw, meta=dict(meta))

    def component_states(self) -> dict[str, str]:
        smtp = "disabled"
        if self.settings.smtp_listener.enabled and "web" in self.roles:
            smtp = "listening" if self._smtp_server is not None and self._smtp_server.is_serving() else "stopped"
        submission = "disabled"
        if self.submission_handler is not None:
            serving = self._submission_server is not None and self._submission_server.is_serving()
            submission = "listening" if serving else "stopped"
        return {
            "smtp_listener": smtp,
            "smtp_submission": submission,
            "pipeline": self.pipeline_worker.state,
            "outbox": self.outbox_worker.state,
            "deadlines": self.deadline_worker.state,
            "scheduler": "running" if self._scheduler is not None and self._scheduler.running else "stopped",
            "imap": self.imap_poller.state if self.imap_poller is not None else "disabled",
        } | {worker.name: "disabled" for worker in self.workers if not self._runs(worker)}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.pipeline.notices.templates.check()
        await asyncio.to_thread(migrate, self.engine)
        await asyncio.to_thread(sync_employees, self.sessions, self.settings)
        log.info("outgoing mail goes to %s", self.transport.describe())
        if not self.pipeline.staff_proof.accept:
            log.warning(NOTHING_ACCEPTED)
        if self._runs(self.pipeline_worker):
            self.preparing = preparing_pool(self.settings)
            if self.preparing is not None:
                self.preparing.warm()  # the processes start beside the rest of the service
                self.pipeline.prepare_in(self.preparing)
                self.outbox.render_in(self.preparing)
        for worker in filter(self._runs, self.workers):
            self._tasks.append(asyncio.create_task(worker.run(), name=f"worker-{worker.name}"))
        self._scheduler = AsyncIOScheduler(timezone=self.settings.service.timezone)
        self._jobs = JobsInFlight(self._scheduler)
        self._scheduler.add_job(
            self.pipeline_worker.wake, "interval", seconds=self.settings.pipeline.poll_seconds, id="pipeline-due"
        )
        self._scheduler.add_job(
            self.outbox_worker.wake, "interval", seconds=self.settings.outbox.poll_seconds, id="outbox-due"
        )
        self._scheduler.add_job(
            self.deadline_worker.wake, "interval", seconds=self.settings.deadlines.sweep_seconds, id="deadlines"
        )
        if self.media is not None:
            self._scheduler.add_job(
                self.media_worker.wake, "interval", seconds=self.settings.media_fetch.poll_seconds, id="media-due"
            )
        if "scheduler" in self.roles:
            self._scheduler.add_job(
                self._claim_scheduler,
                "interval",
                seconds=self.settings.cluster.leader_retry_seconds,
                id="scheduler-leader",
            )
            if self.settings.retention.enabled:
                # Daily at a quiet hour (service timezone); gated by the scheduler lock in the job.
                self._scheduler.add_job(
                    self._apply_retention, "cron", hour=self.settings.retention.hour, minute=17, id="retention"
                )
        self._scheduler.start()
        # Whatever arrived while the service was down, or is due for retry, goes now.
        for worker in self.workers:
            worker.wake()
        await self._start_smtp()
        if self.imap_poller is not None:
            self.imap_poller.start()

    async def _start_smtp(self) -> None:
        """The SMTP listener and the submission port, when this process runs them."""
        assert self._loop is not None
        listener = self.settings.smtp_listener
        if (listener.enabled and "web" in self.roles) or self.submission_handler is not None:
            await asyncio.to_thread(self.smtp_spool.sweep)  # what a process that died left there
        if listener.enabled and "web" in self.roles:
            self._smtp_server = await self._loop.create_server(
                smtp_protocol_factory(
                    self.smtp_handler,
                    spool=self.smtp_spool,
                    max_message_bytes=listener.max_message_bytes,
                    max_sessions=listener.max_sessions,
                    max_line_bytes=listener.max_line_bytes,
                ),  # fmt: skip
                host=listener.host,
                port=listener.port,
            )
            self.smtp_port = self._smtp_server.sockets[0].getsockname()[1]
            log.info("SMTP listener on %s:%s", listener.host, self.smtp_port)
        if self.submission_handler is not None:
            submission = self.settings.smtp_submission
            self._submission_server = await self._loop.create_server(
                submission_protocol_factory(self.submission_handler, submission, listener, spool=self.smtp_spool),
                host=submission.host,
                port=submission.port,
            )
            self.submission_port = self._submission_server.sockets[0].getsockname()[1]
            log.info("SMTP submission port on %s:%s", submission.host, self.submission_port)

    async def stop(self) -> None:
        if self.imap_poller is not None:
            await asyncio.to_thread(self.imap_poller.stop)
        for server in (self._smtp_server, self._submission_server):
            if server is not None:
                server.close()
                await server.wait_closed()
        await self.receipts.close()  # receipts already handed in are committed and answered
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.pause()  # no new jobs; those running finish below (ingest/scheduled_jobs.py)
        for worker in self.workers:
            worker.stop()
        # Workers finish the batch they are in: a receipt half-processed is rolled back anyway.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._scheduler is not None and self._scheduler.running:
            if self._jobs is not None and not await self._jobs.settle(timeout=10):
                log.warning("a scheduled job was still running at the stop: cancelled")
            self._scheduler.shutdown(wait=False)
        if self.preparing is not None:
            self.pipeline.prepare_in(None)
            self.outbox.render_in(None)
            await asyncio.to_thread(self.preparing.close)
        # Closing the lock connections hands the roles over at once, not when a follower's
        # next try finds the connection gone.
        for lock in self._leader_locks():
            await asyncio.to_thread(lock.release)
        self.engine.dispose()
        log.info("service stopped")

    async def run(self) -> None:
        await self.start()
        http = self.settings.http
        # X-Forwarded-* only from the configured proxies (uvicorn's own default trusts 127.0.0.1).
        config = uvicorn.Config(
            self.app, host=http.host, port=http.port, log_config=None, access_log=False, lifespan="off",
            proxy_headers=bool(http.trusted_proxies), forwarded_allow_ips=list(http.trusted_proxies),
        )  # fmt: skip
        self._http = uvicorn.Server(config)
        self._http.should_exit = self._stop_requested
        serve = asyncio.create_task(self._http.serve())
        while not self._http.started and not serve.done():
            await asyncio.sleep(0.01)
        if self._http.servers:
            self.http_port = self._http.servers[0].sockets[0].getsockname()[1]
            log.info("HTTP on %s:%s", http.host, self.http_port)
        self.started.set()
        try:
            await serve
        finally:
            await self.stop()

    def request_stop(self) -> None:
        """Ask a running service to shut down; callable from any thread."""
        self._stop_requested = True
        if self._http is not None:
            self._http.should_exit = True
