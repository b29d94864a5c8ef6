"""Tables of the supervisor's dashboard: server-side login sessions.

The browser holds only a random token in an HttpOnly cookie; the row is found by
the token's SHA-256, so a leaked database gives no usable session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class DashboardSession(SQLModel, table=True):
    """One logged-in browser. Deleted at logout; refused after ``expires_at`` or when idle too long."""

    __tablename__ = "dashboard_session"

    # SHA-256 (hex) of the cookie's token.
    id: str = Field(sa_column=Column(String(64), primary_key=True))
    employee_key: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The absolute end, whatever the activity.
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Every POST form carries it; compared in constant time with the session's.
    csrf_token: str = Field(sa_column=Column(String(64), nullable=False))
