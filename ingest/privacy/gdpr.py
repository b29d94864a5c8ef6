"""One client's rights under the GDPR (policy clause 5.5): a copy of their data, and its erasure.

``ingest gdpr export CONTACT`` and ``ingest gdpr erase CONTACT`` (ingest/cli/privacy.py). A
contact is named by its id, e-mail address or phone number; a name that fits several contacts
is refused rather than guessed. Erasure is the retention scrub (ingest/privacy/scrub.py) applied to
every inquiry of the client whatever its age (reply tokens and our Message-IDs included, so a late
staff reply finds nothing: ingest/privacy/late_replies.py), plus the receipts that carry their
address but never became a message (parked, automatic, unprocessed), the lines of morning digests
that name their inquiries and the .eml copies of what was sent (ingest/privacy/outgoing_copies.py);
then SQLite's write-ahead log is checkpointed and truncated. An export holds only the client's own data: a
receipt that never became a message is exported when they sent it, and only listed (id and why,
never its content) when it merely mentions them. Both write an audit row with ids and counts.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, SQLModel

from channels.base import Channel
from ingest.inquiries.audit import record_action
from ingest.privacy.outgoing_copies import OutgoingChanges, remove_copies, rewrite_copies, scrub_mentions
from ingest.privacy.scrub import Identifiers, ScrubCounts, scrub_contact, scrub_inquiry, scrub_receipt
from storage import inquiry_repo, privacy_repo
from storage.db import SessionFactory, checkpoint_wal, transaction
from storage.models import Contact, Inquiry, Receipt

# A contact id is short; a phone number has at least 8 digits (a Latvian one without +371).
_MAX_ID_DIGITS = 7
_PHONE_JUNK = re.compile(r"[\s().-]")
_SCAN_BATCH = 500


class ContactError(Exception):
    """The contact named cannot be used: none or several match."""


def find_contacts(session: Session, query: str) -> list[Contact]:
    q = query.strip()
    if not q:
        return []
    if "@" in q:
        return privacy_repo.contacts_by_email(session, email=q)
    if q.isdigit() and len(q) <= _MAX_ID_DIGITS:
        return privacy_repo.contacts_by_id(session, contact_id=int(q))
    phone = _PHONE_JUNK.sub("", q).removeprefix("whatsapp:")
    if phone.isdigit() and len(phone) == 8:
        phone = "+371" + phone  # a Latvian number written without the country code
    elif phone.isdigit():
        phone = "+" + phone
    if not phone.startswith("+") or not phone[1:].isdigit():
        return []
    return privacy_repo.contacts_by_phone(session, phone=phone)


def resolve_contact(session: Session, query: str) -> Contact:
    found = find_contacts(session, query)
    if not found:
        raise ContactError(f"no contact matches {query!r} (give a contact id, an e-mail address or a phone number)")
    if len(found) > 1:
        ids = ", ".join(str(c.id) for c in found)
        raise ContactError(f"{len(found)} contacts match {query!r} (ids {ids}); name one by its id")
    return found[0]


def unlinked_receipts(session: Session, ids: Identifiers) -> Iterator[Receipt]:
    """Receipts that never became a message (parked, automatic, pending) and carry one of the client's
    addresses or numbers in their bytes or metadata. A scan: erasure and export are rare."""
    last = 0
    while True:
        batch = privacy_repo.unlinked_receipts_after(session, after_id=last, limit=_SCAN_BATCH)
        if not batch:
            return
        for receipt in batch:
            meta_text = json.dumps(receipt.meta, ensure_ascii=False, default=str)
            if ids.occur_in_bytes(receipt.raw) or ids.occur_in(meta_text) or ids.occur_in(receipt.natural_id):
                yield receipt
        last = batch[-1].id or last


def _contact_id(contact: Contact) -> int:
    assert contact.id is not None  # a stored contact: resolve_contact found it in the database
    return contact.id


def _inquiries(session: Session, contact: Contact) -> list[Inquiry]:
    return privacy_repo.inquiries_of_contact(session, contact_id=_contact_id(contact))


# -- export ----------------------------------------------------------------------------------


@dataclass
class Export:
    data: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)  # path inside the export -> bytes

    def counts(self) -> dict[str, int]:
        inquiries = self.data["inquiries"]
        return {
            "inquiries": len(inquiries),
            "messages": sum(len(i["messages"]) for i in inquiries),
            "attachments": sum(len(m["attachments"]) for i in inquiries for m in i["messages"]),
            "receipts": len(self.data["receipts"]),
            "receipts_to_review": len(self.data["receipts_to_review"]),
            "outbox": sum(len(i["sent_to_client"]) for i in inquiries),
            "files": len(self.files),
        }


def _row(obj: SQLModel, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.model_dump().items():
        if key in drop:
            continue
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        out[key] = value
    return out


# File systems allow 255 bytes in a name; the attachment's id and a hyphen come before it.
NAME_BYTES = 200


def safe_name(name: str | None, fallback: str) -> str:
    """A file name that stays inside the export folder, whatever the client called the file, and
    fits a file system's limit in UTF-8 bytes (200 Chinese characters are 600 bytes): the stem is
    cut at a character boundary, the extension kept."""
    cleaned = re.sub(r"[^\w.-]+", "_", (name or "").strip(), flags=re.UNICODE).strip("._")
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, suffix = cleaned, ""
    room = NAME_BYTES - (len(suffix.encode()) + 1 if suffix else 0)
    short = stem.encode()[:room].decode("utf-8", "ignore").rstrip("._")
    return (f"{short}.{suffix}" if suffix else short) or fallback


def build_export(session: Session, contact: Contact, channels: Mapping[str, Channel] | None = None) -> Export:
    """The client's own data: their inquiries with messages, attachments, events and what was sent
    to them, and their own receipts. A receipt that never became a message is theirs when its sender
    (as ``channels`` read it) is one of their addresses or numbers; one that only mentions them (or
    whose sender cannot be read) may be someone else's data: it is listed by id and why, for a
    person to judge, and not exported."""
    ids = Identifiers.of([contact])
    export = Export(data={"contact": _row(contact), "inquiries": [], "receipts": [], "receipts_to_review": []})
    receipt_ids: set[int] = set()
    message_ids: list[int] = []
    for inquiry in _inquiries(session, contact):
        export.data["inquiries"].append(_export_inquiry(session, inquiry, ids, export, receipt_ids, message_ids))
    receipts: list[Receipt] = []
    if receipt_ids or message_ids:
        receipts = privacy_repo.receipts_of_messages(session, receipt_ids=receipt_ids, message_ids=message_ids)
    for receipt in unlinked_receipts(session, ids):
        why = _not_their_own(receipt, ids, channels or {})
        if why is None:
            receipts.append(receipt)
        else:
            export.data["receipts_to_review"].append(_listed(receipt, why))
    for receipt in receipts:
        entry = _row(receipt, drop=("raw",))
        if receipt.raw:
            path = f"receipts/{receipt.id}.{'eml' if receipt.channel == 'email' else 'txt'}"
            export.files[path] = receipt.raw
            entry["raw_file"] = path
            entry["raw_base64"] = base64.b64encode(receipt.raw).decode("ascii")
        export.data["receipts"].append(entry)
    return export


def _export_inquiry(
    session: Session, inquiry: Inquiry, ids: Identifiers, export: Export, receipt_ids: set[int], message_ids: list[int]
) -> dict[str, Any]:
    item: dict[str, Any] = {**_row(inquiry, drop=("token",)), "messages": [], "events": [], "sent_to_client": []}
    assert inquiry.id is not None
    for message in inquiry_repo.messages_of(session, inquiry_id=inquiry.id):
        assert message.id is not None
        message_ids.append(message.id)
        if message.receipt_id is not None:
            receipt_ids.add(message.receipt_id)
        entry = {**_row(message), "attachments": []}
        for attachment in privacy_repo.attachments_of_message(session, message_id=message.id):
            meta = _row(attachment, drop=("data",))
            if attachment.data is not None:
                path = f"attachments/{attachment.id}-{safe_name(attachment.filename, 'attachment')}"
                export.files[path] = attachment.data
                meta["file"] = path
            entry["attachments"].append(meta)
        item["messages"].append(entry)
    for event in inquiry_repo.events_of(session, inquiry_id=inquiry.id):
        item["events"].append(_row(event))
    for row in privacy_repo.outbox_of_inquiry(session, inquiry_id=inquiry.id):
        # What was sent to the client; staff notifications are the office's internal mail.
        if row.kind.startswith("client_") or ids.occur_in(row.recipient):
            item["sent_to_client"].append(_row(row, drop=("lease_until",)))
    return item


def receipt_sender(receipt: Receipt, channels: Mapping[str, Channel]) -> str | None:
    """Who sent a stored receipt, as its channel reads it; else the envelope sender the SMTP
    listener recorded; None when neither tells."""
    channel = channels.get(receipt.channel)
    if channel is not None and receipt.raw:
        try:
            return channel.normalise(receipt.raw, receipt.meta).sender_address or None
        except Exception:  # noqa: BLE001 - a receipt that cannot be read (parked ones) says nothing
            pass
    envelope = receipt.meta.get("envelope_from") if receipt.channel == "email" else None
    return envelope if isinstance(envelope, str) and envelope else None


def _not_their_own(receipt: Receipt, ids: Identifiers, channels: Mapping[str, Channel]) -> str | None:
    """None when the client sent ``receipt``; otherwise why it is only listed."""
    sender = receipt_sender(receipt, channels)
    if sender is None:
        return "sender_unknown"
    return None if ids.occur_in(sender) else "mentions_only"


def _listed(receipt: Receipt, why: str) -> dict[str, Any]:
    """What the export says about a receipt it does not hold: identifiers and why, no content."""
    at = receipt.received_at.isoformat() if receipt.received_at else None
    return {"receipt_id": receipt.id, "channel": receipt.channel, "source": receipt.source,
            "status": receipt.status, "received_at": at, "why": why}  # fmt: skip


def write_export(export: Export, out: Path) -> None:
    """Into a zip (``out`` ends in .zip) or a new, empty directory; never over an existing export."""
    body = json.dumps(export.data, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    if out.suffix.lower() == ".zip":
        if out.exists():
            raise FileExistsError(f"{out} exists")
        with zipfile.ZipFile(out, "x", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data.json", body)
            for path, data in sorted(export.files.items()):
                archive.writestr(path, data)
        return
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    # Written beside it and renamed when whole: a failure leaves no partial export behind.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        (staging / "data.json").write_bytes(body)
        for path, data in export.files.items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# -- erasure ---------------------------------------------------------------------------------


def erase_contact(
    session: Session, contact: Contact, *, now: datetime, actor: str, changes: OutgoingChanges | None = None
) -> ScrubCounts:
    """Everything personal about the client, everywhere; the statistical skeleton stays. The outbox
    rows changed outside their inquiries are noted in ``changes`` (their .eml copies follow)."""
    assert contact.id is not None
    ids = Identifiers.of([contact])
    counts = ScrubCounts()
    inquiries = _inquiries(session, contact)
    for inquiry in inquiries:
        counts.add(scrub_inquiry(session, inquiry, ids, now=now, why="erasure"))
    for receipt in list(unlinked_receipts(session, ids)):
        scrub_receipt(receipt, ids, now=now)
        session.add(receipt)
        counts.receipts += 1
    # The morning digests that list their inquiries, messages to them outside any of their inquiries.
    counts.outbox += scrub_mentions(
        session,
        references=[i.reference for i in inquiries],
        ids=ids,
        skip_inquiry_ids=[i.id for i in inquiries if i.id is not None],
        changes=changes if changes is not None else OutgoingChanges(),
    )
    scrub_contact(session, contact)
    counts.contacts += 1
    record_action(
        session, actor=actor, action="gdpr.erase", now=now, detail={"contact_id": contact.id, **counts.as_dict()}
    )
    return counts


@dataclass
class Erasure:
    """What ``erase`` did: the rows' counts, the .eml copies changed, whether the SQLite write-ahead
    log is empty now (None on PostgreSQL)."""

    contact_id: int
    counts: ScrubCounts
    files: int
    log_emptied: bool | None


def erase(sessions: SessionFactory, contact_id: int, *, folder: Path, now: datetime, actor: str) -> Erasure:
    """``ingest gdpr erase``: the rows in one transaction, then the files, then SQLite's file rebuilt
    (VACUUM) and its log emptied, so that no erased value survives in an outgoing copy, an old WAL
    frame or a page's unused bytes (storage/db.py checkpoint_wal)."""
    changes = OutgoingChanges()
    with transaction(sessions) as session:
        contact = resolve_contact(session, str(contact_id))
        outbox_ids = privacy_repo.outbox_ids_of_contact(session, contact_id=_contact_id(contact))
        counts = erase_contact(session, contact, now=now, actor=actor, changes=changes)
    files = remove_copies(folder, [*outbox_ids, *sorted(changes.emptied)])
    with sessions() as session:
        files += rewrite_copies(folder, session, sorted(changes.cut))
        bind = session.get_bind()
    return Erasure(contact_id, counts, files, checkpoint_wal(bind.engine, vacuum=True))
