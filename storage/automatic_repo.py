"""Automatic mail kept without an inquiry: the workspace's list, its figures, and turning one
into an inquiry. What became of a receipt is on its meta's ``outcome`` (ingest/pipeline/automatic.py);
the JSON paths read here work on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import Receipt, ReceiptStatus

OWN = "own"  # copies of our own mail and mail in our name: the office's concern, not the list's


def kind_of_outcome() -> Any:
    """The outcome's ``automatic`` kind of a receipt, as an SQL expression (NULL: none)."""
    return col(Receipt.meta)["outcome"]["automatic"].as_string()


def _kept() -> list[Any]:
    """Processed e-mail kept as automatic, with no message of any inquiry."""
    return [
        col(Receipt.channel) == "email",
        col(Receipt.status) == ReceiptStatus.PROCESSED.value,
        col(Receipt.message_id).is_(None),
        kind_of_outcome().is_not(None),
        kind_of_outcome() != OWN,
    ]


def kept_automatic(session: Session, *, limit: int, offset: int = 0) -> tuple[int, list[Receipt]]:
    """How many automatic messages are kept without an inquiry, and a page of them, newest first.
    The raw bytes are not read: what the list shows is on the outcome."""
    total = int(session.exec(select(func.count()).select_from(Receipt).where(*_kept())).one())
    ids = session.exec(select(Receipt.id).where(*_kept()).order_by(col(Receipt.id).desc()).limit(limit).offset(offset))
    wanted = [i for i in ids.all() if i is not None]
    if not wanted:
        return total, []
    rows = session.exec(select(Receipt).where(col(Receipt.id).in_(wanted)).order_by(col(Receipt.id).desc()))
    return total, list(rows.all())


def queue_as_inquiry(session: Session, *, receipt_id: int, opened_by: dict[str, Any], now: datetime) -> Receipt | None:
    """Kept automatic mail processed again as an inquiry (``open_as_inquiry`` on its meta, read by
    the pipeline's automatic step); None when it is not kept automatic mail (any more)."""
    receipt = session.exec(
        select(Receipt).where(col(Receipt.id) == receipt_id, *_kept()).with_for_update()
    ).one_or_none()
    if receipt is None:
        return None
    receipt.meta = {**receipt.meta, "open_as_inquiry": opened_by}
    receipt.status = ReceiptStatus.PENDING.value
    receipt.next_attempt_at = now
    receipt.processed_at = None
    session.add(receipt)
    return receipt
