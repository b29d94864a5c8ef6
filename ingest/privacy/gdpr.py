"""One client's rights under the GDPR (policy clause 5.5): a copy of their data, and its erasure.

``ingest gdpr export CONTACT`` and ``ingest gdpr erase CONTACT`` (ingest/privacy_cli.py). A
contact is named by its id, e-mail address or phone number; a name that fits several contacts
is refused rather than guessed. Erasure is the retention scrub (ingest/scrub.py) applied to every
inquiry of the client whatever its age, plus the receipts that carry their address but never
became a message (parked, automatic, unprocessed). Both write an audit row with ids and counts.
"""

from __future__ import annotations

import base64
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, SQLModel, col, select

from ingest.inquiries.audit import record_action
from ingest.privacy.scrub import ANONYMISED, Identifiers, ScrubCounts, scrub_contact, scrub_inquiry, scrub_receipt
from storage.models import Attachment, Contact, Event, Inquiry, Message, Outbox, Receipt

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
        cond = func.lower(col(Contact.email)) == q.lower()
    elif q.isdigit() and len(q) <= _MAX_ID_DIGITS:
        cond = col(Contact.id) == int(q)
    else:
        phone = _PHONE_JUNK.sub("", q).removeprefix("whatsapp:")
        if phone.isdigit() and len(phone) == 8:
            phone = "+371" + phone  # a Latvian number written without the country code
        elif phone.isdigit():
            phone = "+" + phone
        if not phone.startswith("+") or not phone[1:].isdigit():
            return []
        cond = or_(col(Contact.phone) == phone, col(Contact.whatsapp_id) == phone[1:])
    return list(session.exec(select(Contact).where(cond).order_by(col(Contact.id))).all())


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
        batch = session.exec(
            select(Receipt)
            .where(col(Receipt.message_id).is_(None), col(Receipt.id) > last)
            .order_by(col(Receipt.id))
            .limit(_SCAN_BATCH)
        ).all()
        if not batch:
            return
        for receipt in batch:
            meta_text = json.dumps(receipt.meta, ensure_ascii=False, default=str)
            if ids.occur_in_bytes(receipt.raw) or ids.occur_in(meta_text) or ids.occur_in(receipt.natural_id):
                yield receipt
        last = batch[-1].id or last


def _inquiries(session: Session, contact: Contact) -> list[Inquiry]:
    return list(session.exec(select(Inquiry).where(Inquiry.contact_id == contact.id).order_by(col(Inquiry.id))).all())


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


def _safe_name(name: str | None, fallback: str) -> str:
    """A file name that stays inside the export folder, whatever the client called the file."""
    cleaned = re.sub(r"[^\w.-]+", "_", (name or "").strip(), flags=re.UNICODE).strip("._")
    return cleaned[:120] or fallback


def build_export(session: Session, contact: Contact) -> Export:
    ids = Identifiers.of([contact])
    export = Export(data={"contact": _row(contact), "inquiries": [], "receipts": []})
    receipt_ids: set[int] = set()
    message_ids: list[int] = []
    for inquiry in _inquiries(session, contact):
        item: dict[str, Any] = {**_row(inquiry, drop=("token",)), "messages": [], "events": [], "sent_to_client": []}
        for message in session.exec(
            select(Message).where(Message.inquiry_id == inquiry.id).order_by(col(Message.received_at), col(Message.id))
        ).all():
            assert message.id is not None
            message_ids.append(message.id)
            if message.receipt_id is not None:
                receipt_ids.add(message.receipt_id)
            entry = {**_row(message), "attachments": []}
            for attachment in session.exec(select(Attachment).where(Attachment.message_id == message.id)).all():
                meta = _row(attachment, drop=("data",))
                if attachment.data is not None:
                    path = f"attachments/{attachment.id}-{_safe_name(attachment.filename, 'attachment')}"
                    export.files[path] = attachment.data
                    meta["file"] = path
                entry["attachments"].append(meta)
            item["messages"].append(entry)
        for event in session.exec(
            select(Event).where(Event.inquiry_id == inquiry.id).order_by(col(Event.at), col(Event.id))
        ).all():
            item["events"].append(_row(event))
        for row in session.exec(select(Outbox).where(Outbox.inquiry_id == inquiry.id).order_by(col(Outbox.id))).all():
            # What was sent to the client; staff notifications are the office's internal mail.
            if row.kind.startswith("client_") or ids.occur_in(row.recipient):
                item["sent_to_client"].append(_row(row, drop=("lease_until",)))
        export.data["inquiries"].append(item)
    receipts: list[Receipt] = []
    if receipt_ids or message_ids:
        receipts = list(session.exec(
            select(Receipt).where(col(Receipt.id).in_(receipt_ids) | col(Receipt.message_id).in_(message_ids or [-1]))
            .order_by(col(Receipt.id))
        ).all())  # fmt: skip
    receipts += list(unlinked_receipts(session, ids))
    for receipt in receipts:
        entry = _row(receipt, drop=("raw",))
        if receipt.raw:
            path = f"receipts/{receipt.id}.{'eml' if receipt.channel == 'email' else 'txt'}"
            export.files[path] = receipt.raw
            entry["raw_file"] = path
            entry["raw_base64"] = base64.b64encode(receipt.raw).decode("ascii")
        export.data["receipts"].append(entry)
    return export


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
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.json").write_bytes(body)
    for path, data in export.files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# -- erasure ---------------------------------------------------------------------------------


def erase_contact(session: Session, contact: Contact, *, now: datetime, actor: str) -> ScrubCounts:
    """Everything personal about the client, everywhere; the statistical skeleton stays."""
    assert contact.id is not None
    ids = Identifiers.of([contact])
    counts = ScrubCounts()
    for inquiry in _inquiries(session, contact):
        counts.add(scrub_inquiry(session, inquiry, ids, now=now, why="erasure"))
    for receipt in list(unlinked_receipts(session, ids)):
        scrub_receipt(receipt, ids, now=now)
        session.add(receipt)
        counts.receipts += 1
    # Messages to them outside any inquiry (none are queued so today; kept safe if some ever are).
    for row in session.exec(select(Outbox).where(col(Outbox.inquiry_id).is_(None))).all():
        if ids.occur_in(row.recipient):
            row.payload, row.recipient, row.last_error = {}, ANONYMISED, None
            session.add(row)
            counts.outbox += 1
    scrub_contact(session, contact)
    counts.contacts += 1
    record_action(
        session, actor=actor, action="gdpr.erase", now=now, detail={"contact_id": contact.id, **counts.as_dict()}
    )
    return counts


def outbox_ids_of(session: Session, contact: Contact) -> list[int]:
    rows = session.exec(
        select(Outbox.id)
        .join(Inquiry, col(Inquiry.id) == col(Outbox.inquiry_id))
        .where(Inquiry.contact_id == contact.id)
    ).all()
    return [int(i) for i in rows if i is not None]


def remove_outgoing_files(folder: Path, outbox_ids: list[int]) -> int:
    """Without a relay, sent mail is kept as .eml files (ingest/mail_transport.py FolderTransport),
    named by outbox id: those of an erased client go too."""
    removed = 0
    if not folder.is_dir():
        return 0
    for outbox_id in outbox_ids:
        for path in folder.glob(f"{outbox_id:08d}-*.eml"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
