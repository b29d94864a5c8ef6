"""Tables of the staff API: API tokens and the audit log (policy clauses 5.1.2 and 5.5).

Kept apart from the shared model so the API's storage is one file. The employee's
role lives on ``Employee.role`` (storage/models.py); the values are :class:`Role`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class Role(StrEnum):
    EMPLOYEE = "employee"  # sees and acts on the inquiries they handle
    SUPERVISOR = "supervisor"  # sees everything but complaints
    BOARD = "board"  # sees everything, complaints included (policy clause 13)
    ADMIN = "admin"  # tokens and absences; no inquiry content at all


class ApiToken(SQLModel, table=True):
    """A bearer token of one employee. Only the SHA-256 of the secret is kept: a leaked
    database gives no usable token."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    employee_key: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    name: str = Field(default="", sa_column=Column(String(200), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class AuditLog(SQLModel, table=True):
    """Who read or changed what. ``detail`` holds identifiers only, never message text."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    inquiry_id: int | None = Field(default=None, foreign_key="inquiry.id", index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    remote_addr: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
