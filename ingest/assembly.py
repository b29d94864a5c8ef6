"""Building the service's parts from the settings: channels, transports, the pipeline, notices.

Each function takes what it needs and returns a new object: nothing is global, so tests and
commands build the same parts the running service uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from channels.base import Channel
from channels.calls import CallbackWindow, CallChannel
from channels.email import EmailChannel
from channels.twilio_messaging import TwilioMessagingChannel
from channels.whatsapp_cloud import WhatsAppCloudChannel
from ingest.api.context import ApiContext
from ingest.config import Settings
from ingest.config.fields import LANGUAGES, in_language
from ingest.dashboard.deps import DashboardOptions
from ingest.inquiries.interactions import InteractionWindow, WrittenRequestInfo
from ingest.intake.media_fetch import DEFAULT_API_BASE, MediaFetcher
from ingest.outgoing.employee_card import FIELDS
from ingest.outgoing.mail_transport import FolderTransport, MailTransport, SmtpRelay
from ingest.outgoing.notices import ClientTemplates, Notices
from ingest.outgoing.reply_templates import ReplyTemplates
from ingest.pipeline.prepare import Preparer, PreparingPool
from ingest.pipeline.runner import Pipeline
from ingest.pipeline.staff_proof import StaffProof, staff_proof
from ingest.routing import calendar_from_settings, router_from_settings
from router.deadlines import DeadlinePolicy
from storage import repo, staff_repo
from storage.db import SessionFactory, one_at_a_time, transaction
from storage.models import Absence, Employee


def mail_transport(settings: Settings) -> MailTransport:
    out = settings.outgoing_mail
    if out.relay_host:
        return SmtpRelay(
            host=out.relay_host,
            port=out.relay_port,
            security=out.security,
            username=out.username,
            password=out.password,
            timeout=out.timeout_seconds,
        )
    return FolderTransport(settings.outgoing_folder())


def channels_from_settings(settings: Settings) -> dict[str, Channel]:
    own = frozenset({settings.outgoing_mail.from_address.lower(), *settings.smtp_listener.recipients})
    email = EmailChannel(
        max_attachment_bytes=settings.service.max_attachment_bytes,
        own_addresses=own,
        never_inquiry_senders=tuple(settings.email.never_inquiry_senders),
    )
    # WhatsApp and SMS through Twilio: always registered, so stored receipts normalise even
    # while the webhook is switched off.
    whatsapp, sms = TwilioMessagingChannel(name="whatsapp"), TwilioMessagingChannel(name="sms")
    # Calls (Twilio Voice callbacks, imported call logs): a missed call asks for a call back.
    phone = CallChannel(
        tz=ZoneInfo(settings.calls.timezone or settings.service.timezone),
        internal_numbers=settings.calls.internal_numbers,
        callback_window=callback_window_from_settings(settings),
    )
    # WhatsApp through Meta's Cloud API: receipts named "whatsapp_cloud", messages on "whatsapp".
    cloud = WhatsAppCloudChannel()
    return {email.name: email, whatsapp.name: whatsapp, sms.name: sms, phone.name: phone, cloud.name: cloud}


def callback_window_from_settings(settings: Settings) -> CallbackWindow | None:
    """``[calls] callback_window`` on the office's working calendar; None when it is off."""
    span = settings.calls.callback_window_span()
    if span is None:
        return None
    return CallbackWindow(calendar=calendar_from_settings(settings), amount=span[0], unit=span[1])


def sync_employees(sessions: SessionFactory, settings: Settings) -> None:
    """Make employee and absence rows match the config; employees no longer configured become inactive."""
    with transaction(sessions) as session:
        # Two processes starting together on a new database would both insert every employee.
        one_at_a_time(session.connection(), "staff-sync")
        existing = repo.employees_by_key(session)
        for conf in settings.employees:
            row = existing.pop(conf.key, None) or Employee(key=conf.key, name="", surname="", position="", email="")
            row.name, row.surname, row.email = conf.name, conf.surname, conf.email
            # The Latvian texts on the row; the others come from the config when a client is written to.
            row.position = in_language(conf.position, "lv") or ""
            row.location = in_language(conf.location, "lv")
            row.reception_hours = in_language(conf.reception_hours, "lv")
            row.phone = conf.phone
            row.languages, row.language = list(conf.languages), conf.language
            row.supervisor_key, row.deputy_key, row.active = conf.supervisor, conf.deputy, conf.active
            # Policy clause 13: the board member reviews complaints, whatever role the entry names.
            row.role = "board" if conf.key == settings.routing.board_member else conf.role
            session.add(row)
        for gone in existing.values():
            gone.active = False
            session.add(gone)
        # Absences from the config are replaced as a whole; those entered through the API stay.
        staff_repo.drop_config_absences(session)
        for absence in settings.absences:
            session.add(
                Absence(
                    employee_key=absence.employee,
                    starts_on=absence.start,
                    ends_on=absence.end,
                    reason=absence.reason,
                    source="config",
                )
            )


def notices_from_settings(settings: Settings) -> Notices:
    cm = settings.client_messages
    return Notices(
        templates=ClientTemplates(cm.templates_dir),
        from_address=settings.outgoing_mail.from_address,
        from_name=in_language(settings.outgoing_mail.from_name, "lv") or "",
        office=in_language(settings.service.name, "lv") or "",
        office_names={lang: in_language(settings.service.name, lang) or "" for lang in LANGUAGES},
        from_names={lang: in_language(settings.outgoing_mail.from_name, lang) or "" for lang in LANGUAGES},
        tz=ZoneInfo(settings.service.timezone),
        topic_names={t.key: t.name for t in settings.topics},
        acknowledge=cm.acknowledge,
        ack_window=timedelta(minutes=cm.ack_window_minutes),
        ack_burst_per_minute=cm.ack_burst_per_minute,
        texting=settings.twilio.enabled,
        employee_texts=employee_texts(settings),
    )


def employee_texts(settings: Settings) -> dict[str, dict[str, dict[str, str | None]]]:
    """Each employee's client-facing details in Russian and English, where the config has them."""
    return {
        e.key: {
            language: {name: in_language(getattr(e, name), language) for name in FIELDS} for language in ("ru", "en")
        }
        for e in settings.employees
    }


def build_pipeline(settings: Settings, sessions: SessionFactory, clock: Callable[[], datetime]) -> Pipeline:
    return Pipeline(
        sessions=sessions,
        channels=channels_from_settings(settings),
        router=router_from_settings(settings),
        retry=settings.pipeline,
        notices=notices_from_settings(settings),
        tz=ZoneInfo(settings.service.timezone),
        reference_prefix=settings.service.reference_prefix,
        deadline_policy=deadline_policy(settings),
        clock=clock,
        staff_proof=staff_proof_from_settings(settings),
        cross_channel=timedelta(hours=settings.threading.cross_channel_hours),
    )


def preparer_from_settings(settings: Settings) -> Preparer:
    """What each process of the preparing pool builds as it starts: the office's channel adapters
    and its router's reading of texts, the same as the service's own."""
    return Preparer(channels_from_settings(settings), router_from_settings(settings).understander)


def preparing_pool(settings: Settings) -> PreparingPool | None:
    """``[pipeline] prepare_processes`` processes (None: 0, or a one-core machine)."""
    processes = settings.pipeline.preparing_processes(os.cpu_count())
    return PreparingPool(partial(preparer_from_settings, settings), processes) if processes else None


def staff_proof_from_settings(settings: Settings) -> StaffProof:
    """What proves a staff reply by e-mail: ``[staff_replies]``, staff domains defaulting to the
    domains of the employees' addresses."""
    sr = settings.staff_replies
    return staff_proof(
        accept=sr.accept,
        authserv_id=sr.authserv_id,
        staff_domains=sr.staff_domains,
        employee_addresses=[e.email for e in settings.employees],
        dkim_keys=sr.dkim_keys,
        token_grace_days=sr.token_grace_days,
    )


def media_fetcher(settings: Settings, sessions: SessionFactory, clock: Callable[[], datetime]) -> MediaFetcher | None:
    """The Twilio media downloader; None while Twilio is off (nothing to fetch, no credentials)."""
    twilio = settings.twilio
    if not twilio.enabled:
        return None
    return MediaFetcher(
        sessions=sessions,
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        retry=settings.media_fetch,
        clock=clock,
        max_bytes=twilio.media_max_bytes or settings.service.max_attachment_bytes,
        api_base_url=twilio.api_base_url or DEFAULT_API_BASE,
        timeout_seconds=twilio.timeout_seconds,
    )


def deadline_policy(settings: Settings) -> DeadlinePolicy:
    d = settings.deadlines
    return DeadlinePolicy(
        reminder_share_left=d.reminder_share_left,
        board_after=timedelta(hours=d.board_after_working_hours),
        reassigned_overdue_days=d.reassigned_overdue_working_days,
    )


def staff_api_context(settings: Settings, *, pipeline: Pipeline, wake_outbox: Callable[[], None]) -> ApiContext:
    """What the staff API and the dashboard need from a service: its sessions, notices, router, clock."""
    s = settings.service
    return ApiContext(
        sessions=pipeline.sessions,
        notices=pipeline.notices,
        router=pipeline.router,
        policy=pipeline.deadline_policy,
        clock=pipeline.clock,
        reference_prefix=s.reference_prefix,
        written=WrittenRequestInfo(
            email=s.written_requests_email or settings.outgoing_mail.from_address,
            postal_address=s.postal_address,
            visiting_address=s.visiting_address,
            visiting_hours=s.visiting_hours,
        ),
        wake_outbox=wake_outbox,
        interaction_window=InteractionWindow(
            max_age=timedelta(days=settings.interactions.max_age_days),
            future_skew=timedelta(minutes=settings.interactions.future_skew_minutes),
        ),
    )


def reply_templates(settings: Settings) -> ReplyTemplates:
    """The reply templates of the configured folder, checked (ReplyTemplateError names a broken file)."""
    return ReplyTemplates.load(settings.client_messages.reply_templates_dir, topics={t.key for t in settings.topics})


def dashboard_options(settings: Settings) -> DashboardOptions:
    return DashboardOptions(
        secure_cookies=settings.http.secure_cookies,
        idle=timedelta(minutes=settings.http.dashboard_idle_minutes),
        replies=reply_templates(settings),
    )
