"""deadline alarms, job markers, paused clock

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deadline_alarm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inquiry_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("fire_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["inquiry_id"], ["inquiry.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deadline_alarm", schema=None) as batch_op:
        batch_op.create_index("ix_deadline_alarm_inquiry_id", ["inquiry_id"], unique=False)
        batch_op.create_index("ix_deadline_alarm_pending", ["fired_at", "fire_at"], unique=False)
    op.create_table(
        "job_marker",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("done_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("inquiry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_paused_at", storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inquiry", schema=None) as batch_op:
        batch_op.drop_column("clock_paused_at")
    op.drop_table("job_marker")
    with op.batch_alter_table("deadline_alarm", schema=None) as batch_op:
        batch_op.drop_index("ix_deadline_alarm_pending")
        batch_op.drop_index("ix_deadline_alarm_inquiry_id")
    op.drop_table("deadline_alarm")
