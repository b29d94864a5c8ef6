"""What the office sent that still names an erased client, outside their own inquiries' rows.

The morning digest (kind ``deadline_digest``, no inquiry) lists each inquiry by reference and
subject; an erasure cuts those lines to the reference. A message to the client's address or
number that belongs to no inquiry of theirs is emptied like their own. Without a relay, sent
mail is also kept as ``.eml`` files (ingest/outgoing/mail_transport.py FolderTransport, named
``<outbox id, 8 digits>-<kind>.eml``): those of emptied rows are removed, those of cut rows
written again from what the row holds now.

The caller owns the transaction; the files are changed after it is committed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from ingest.outgoing.mail_bytes import message_bytes
from ingest.outgoing.mail_transport import build_email, write_atomically
from ingest.privacy.scrub import ANONYMISED, WITHDRAWN, Identifiers
from storage import privacy_repo
from storage.models import Outbox, OutboxStatus

# The payload fields that carry text a person reads; ids, addresses and headers are left alone.
TEXT_FIELDS = ("subject", "text", "html")


@dataclass
class OutgoingChanges:
    """Outbox rows an erasure changed besides its inquiries' own: their files follow."""

    emptied: set[int] = field(default_factory=set)
    cut: set[int] = field(default_factory=set)


def scrub_mentions(
    session: Session, *, references: Collection[str], ids: Identifiers, skip_inquiry_ids: Collection[int],
    changes: OutgoingChanges,
) -> int:  # fmt: skip
    """Outgoing messages outside the erased inquiries that name them or the client. Returns how many changed."""
    rows = privacy_repo.outbox_mentioning(
        session, references=references, identifiers=sorted(ids.values), skip_inquiry_ids=skip_inquiry_ids
    )
    changed = 0
    for row in rows:
        assert row.id is not None
        if ids.occur_in(row.recipient):
            _empty(row)
            changes.emptied.add(row.id)
        else:
            payload = {k: _cut(v, references, ids) if k in TEXT_FIELDS else v for k, v in row.payload.items()}
            if payload == row.payload:
                continue  # the text search found the value somewhere no person reads it (an id)
            row.payload = payload
            changes.cut.add(row.id)
        session.add(row)
        changed += 1
    return changed


def _empty(row: Outbox) -> None:
    row.payload, row.recipient, row.last_error = {}, ANONYMISED, None
    if row.status in (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value):
        row.status, row.next_attempt_at, row.lease_until = WITHDRAWN, None, None
        row.last_error = "withdrawn: client data removed (erasure)"


def _cut(value: Any, references: Collection[str], ids: Identifiers) -> Any:
    if isinstance(value, str):
        return "\n".join(_cut_line(line, references, ids) for line in value.split("\n"))
    if isinstance(value, list):
        return [_cut(v, references, ids) for v in value]
    if isinstance(value, dict):
        return {k: _cut(v, references, ids) for k, v in value.items()}
    return value


def _cut_line(line: str, references: Collection[str], ids: Identifiers) -> str:
    """A line naming an erased inquiry keeps what comes up to its reference (``- GK-2026-000123``);
    one naming the client goes."""
    for reference in references:
        at = line.find(reference)
        if at >= 0:
            end = at + len(reference)
            return line[: end + 1] if line[end : end + 1] == "]" else line[:end]
    return ANONYMISED if ids.occur_in(line) else line


# -- the .eml copies -----------------------------------------------------------------------


def copies_of(folder: Path, outbox_id: int) -> list[Path]:
    return sorted(folder.glob(f"{outbox_id:08d}-*.eml")) if folder.is_dir() else []


def remove_copies(folder: Path, outbox_ids: Collection[int]) -> int:
    """The .eml files of these rows removed; returns how many."""
    removed = 0
    for outbox_id in outbox_ids:
        for path in copies_of(folder, outbox_id):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def rewrite_copies(folder: Path, session: Session, outbox_ids: Collection[int]) -> int:
    """The .eml files of these rows written again from their payload as it is now (a file that
    cannot be, or a row that is gone, is removed). Returns how many files changed."""
    changed = 0
    for outbox_id in outbox_ids:
        paths = copies_of(folder, outbox_id)
        if not paths:
            continue
        row = session.get(Outbox, outbox_id)
        data = _eml(row.payload) if row is not None and row.payload else None
        for path in paths:
            if data is None:
                path.unlink(missing_ok=True)
            else:
                write_atomically(path, data)
            changed += 1
    return changed


def _eml(payload: dict[str, Any]) -> bytes | None:
    try:
        return message_bytes(build_email(payload))
    except Exception:  # noqa: BLE001 - a payload that no longer makes a message: the copy just goes
        return None
