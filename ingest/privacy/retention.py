"""The retention policy (policy clause 5.5): old closed inquiries anonymised, old raw receipts emptied.

Run daily by the scheduler process (one process at a time, like the deadline sweep) and by hand
with ``ingest retention run [--dry-run]``. Work goes in small transactions, so a long first run
never holds the database for long, and a crash half-way leaves every inquiry either untouched or
fully anonymised (its ``anonymised`` event is written in the same transaction).
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, update
from sqlmodel import Session, col, select

from ingest.config import RetentionSettings
from ingest.inquiries.audit import record_action
from ingest.privacy.scrub import ANONYMISED_EVENT, Identifiers, ScrubCounts, scrub_contact, scrub_inquiry
from storage.db import SessionFactory, transaction
from storage.models import Contact, Event, Inquiry, InquiryStatus, Message, Receipt, ReceiptStatus

log = logging.getLogger(__name__)

DONE_STATUSES = (InquiryStatus.CLOSED.value, InquiryStatus.ANSWERED.value)
BATCH = 100


@dataclass
class RetentionReport:
    anonymised: ScrubCounts = field(default_factory=ScrubCounts)
    raw_receipts_emptied: int = 0
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would be" if self.dry_run else "were"
        c = self.anonymised
        return [
            f"inquiries anonymised: {c.inquiries} ({verb} {'anonymised' if self.dry_run else 'done'})",
            f"  messages {c.messages}, attachments {c.attachments}, receipts {c.receipts}, outgoing {c.outbox},"
            f" events {c.events}, media {c.media}, contacts {c.contacts}",
            f"raw receipts emptied: {self.raw_receipts_emptied}",
        ]


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    total = moment.year * 12 + (moment.month - 1) - months
    year, month = total // 12, total % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _anonymised_since_last_change() -> Any:
    """An ``anonymised`` event no older than the inquiry's last change. A client who writes again
    into an anonymised thread reopens it (``updated_at`` moves on): it is anonymised again later."""
    return exists().where(
        col(Event.inquiry_id) == col(Inquiry.id),
        col(Event.type) == ANONYMISED_EVENT,
        col(Event.at) >= col(Inquiry.updated_at),
    )


def due_inquiry_ids(session: Session, *, cutoff: datetime, limit: int, after_id: int = 0) -> list[int]:
    """Closed or answered inquiries, not yet anonymised, with no message or event since ``cutoff``."""
    recent_message = exists().where(col(Message.inquiry_id) == col(Inquiry.id), col(Message.received_at) >= cutoff)
    recent_event = exists().where(col(Event.inquiry_id) == col(Inquiry.id), col(Event.at) >= cutoff)
    stmt = (
        select(Inquiry.id)
        .where(
            col(Inquiry.status).in_(DONE_STATUSES),
            col(Inquiry.updated_at) < cutoff,
            col(Inquiry.received_at) < cutoff,
            col(Inquiry.id) > after_id,
            ~recent_message,
            ~recent_event,
            ~_anonymised_since_last_change(),
        )
        .order_by(col(Inquiry.id))
        .limit(limit)
    )
    return [int(i) for i in session.exec(stmt).all() if i is not None]


def anonymise_inquiries(session: Session, inquiry_ids: list[int], *, now: datetime, why: str) -> ScrubCounts:
    """Scrub these inquiries; then their contacts, once no inquiry of theirs keeps personal data."""
    counts = ScrubCounts()
    contact_ids: set[int] = set()
    for inquiry_id in inquiry_ids:
        inquiry = session.get(Inquiry, inquiry_id)
        if inquiry is None:
            continue
        contact = session.get(Contact, inquiry.contact_id)
        ids = Identifiers.of([contact] if contact is not None else [])
        counts.add(scrub_inquiry(session, inquiry, ids, now=now, why=why))
        contact_ids.add(inquiry.contact_id)
    session.flush()
    for contact_id in sorted(contact_ids):
        if not _has_personal_inquiry(session, contact_id):
            contact = session.get(Contact, contact_id)
            if contact is not None and (contact.name or contact.email or contact.phone or contact.whatsapp_id):
                scrub_contact(session, contact)
                counts.contacts += 1
    return counts


def _has_personal_inquiry(session: Session, contact_id: int) -> bool:
    found = session.exec(
        select(Inquiry.id).where(Inquiry.contact_id == contact_id, ~_anonymised_since_last_change()).limit(1)
    ).first()
    return found is not None


def empty_old_receipts(session: Session, *, cutoff: datetime, dry_run: bool) -> int:
    """Processed receipts older than the cutoff lose their raw bytes; parked and pending ones are kept."""
    where = (
        col(Receipt.status) == ReceiptStatus.PROCESSED.value,
        or_(
            col(Receipt.processed_at) < cutoff,
            col(Receipt.processed_at).is_(None) & (col(Receipt.received_at) < cutoff),
        ),
        func.length(col(Receipt.raw)) > 0,
    )
    if dry_run:
        return int(session.exec(select(func.count()).select_from(Receipt).where(*where)).one())
    result = session.execute(update(Receipt).where(*where).values(raw=b""))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_retention(
    sessions: SessionFactory,
    settings: RetentionSettings,
    *,
    now: datetime,
    dry_run: bool = False,
    actor: str = "system",
) -> RetentionReport:
    report = RetentionReport(dry_run=dry_run)
    if settings.anonymise_closed_after_months > 0:
        cutoff = months_before(now, settings.anonymise_closed_after_months)
        after_id = 0
        while True:
            with transaction(sessions) as session:
                batch = due_inquiry_ids(session, cutoff=cutoff, limit=BATCH, after_id=after_id)
                if not batch:
                    break
                after_id = batch[-1]
                if dry_run:
                    report.anonymised.inquiries += len(batch)
                    continue
                counts = anonymise_inquiries(session, batch, now=now, why="retention")
                report.anonymised.add(counts)
                record_action(
                    session,
                    actor=actor,
                    action="retention.anonymise",
                    now=now,
                    detail={"inquiry_ids": batch, **counts.as_dict()},
                )
    if settings.keep_raw_receipts_days > 0:
        with transaction(sessions) as session:
            report.raw_receipts_emptied = empty_old_receipts(
                session, cutoff=now - timedelta(days=settings.keep_raw_receipts_days), dry_run=dry_run
            )
            if report.raw_receipts_emptied and not dry_run:
                record_action(session, actor=actor, action="retention.raw_receipts", now=now,
                       detail={"receipts": report.raw_receipts_emptied})  # fmt: skip
    log.info(
        "retention%s: %d inquiries anonymised, %d raw receipts emptied",
        " (dry run)" if dry_run else "",
        report.anonymised.inquiries,
        report.raw_receipts_emptied,
    )
    return report
