"""The audit log (policy clause 5.5): a row for every read of a client's data and every change.

Written in the same transaction as the read or change it records, so there is
no change without its row. ``detail`` carries identifiers only (references,
ids, keys, field names), never message text, names or addresses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from ingest.api.auth import Principal
from storage.staff_models import AuditLog


def record(
    session: Session,
    *,
    principal: Principal,
    action: str,
    now: datetime,
    inquiry_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """A row for something done through the API or the dashboard by a known caller."""
    return record_action(
        session,
        actor=principal.key,
        action=action,
        now=now,
        inquiry_id=inquiry_id,
        detail={"token_id": principal.token_id, **(detail or {})},
        remote_addr=principal.remote_addr,
    )


def record_action(
    session: Session,
    *,
    actor: str,
    action: str,
    now: datetime,
    inquiry_id: int | None = None,
    detail: dict[str, Any] | None = None,
    remote_addr: str | None = None,
) -> AuditLog:
    """A row for any actor: a command-line user, "system" (retention), or a login attempt that
    has no caller yet."""
    row = AuditLog(
        at=now,
        actor=actor[:64],
        action=action,
        inquiry_id=inquiry_id,
        detail=dict(detail or {}),
        remote_addr=remote_addr,
    )
    session.add(row)
    return row
