"""API tokens: created for one employee, shown once, stored only as a SHA-256 hash.

Used by the ``ingest token`` commands and by the API's authentication. A token
works while it is not revoked and its employee is active in the configuration.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from storage import inquiry_repo, staff_repo
from storage.models import Employee
from storage.staff_models import ApiToken

PREFIX = "gk_"


class TokenError(Exception):
    """A token operation that cannot be done as asked (unknown employee or token)."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    id: int
    employee_key: str
    name: str
    secret: str  # returned to the caller once; never stored


def create_token(session: Session, *, employee_key: str, name: str, now: datetime) -> NewToken:
    employee = inquiry_repo.employee_by_key(session, key=employee_key)
    if employee is None:
        raise TokenError(f"no employee {employee_key!r}")
    if not employee.active:
        raise TokenError(f"employee {employee_key!r} is not active")
    # 32 random bytes: guessing is hopeless, so a fast hash (no salt, no stretching) is enough
    # and lets a request find its token by an indexed lookup.
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(employee_key=employee_key, name=name, token_hash=hash_secret(secret), created_at=now)
    session.add(row)
    session.flush()
    assert row.id is not None
    return NewToken(id=row.id, employee_key=employee_key, name=name, secret=secret)


def list_tokens(session: Session) -> list[ApiToken]:
    return staff_repo.api_tokens(session)


def revoke_token(session: Session, *, token_id: int, now: datetime) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise TokenError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
    return row


def lookup(session: Session, *, secret: str) -> tuple[ApiToken, Employee] | None:
    """The live token with this secret and its active employee, or None."""
    if not secret.startswith(PREFIX):
        return None
    return staff_repo.live_token(session, token_hash=hash_secret(secret))
