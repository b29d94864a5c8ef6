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

from sqlmodel import Session

from ingest.config import RetentionSettings
from ingest.inquiries.audit import record_action
from ingest.privacy.scrub import Identifiers, ScrubCounts, scrub_contact, scrub_inquiry
from storage import privacy_repo
from storage.db import SessionFactory, transaction
from storage.models import Contact, Inquiry

log = logging.getLogger(__name__)

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
        if not privacy_repo.has_personal_inquiry(session, contact_id=contact_id):
            contact = session.get(Contact, contact_id)
            if contact is not None and (contact.name or contact.email or contact.phone or contact.whatsapp_id):
                scrub_contact(session, contact)
                counts.contacts += 1
    return counts


def empty_old_receipts(session: Session, *, cutoff: datetime, dry_run: bool) -> int:
    """Processed receipts older than the cutoff lose their raw bytes; parked and pending ones are kept."""
    if dry_run:
        return privacy_repo.count_old_raw_receipts(session, cutoff=cutoff)
    return privacy_repo.empty_old_raw_receipts(session, cutoff=cutoff)


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
                batch = privacy_repo.due_inquiry_ids(session, cutoff=cutoff, limit=BATCH, after_id=after_id)
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
