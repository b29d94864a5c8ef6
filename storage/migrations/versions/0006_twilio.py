"""twilio: delivery status callbacks of sent WhatsApp and SMS messages

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twilio_message_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_sid", "status", name="uq_twilio_message_status_sid_status"),
    )
    with op.batch_alter_table("twilio_message_status", schema=None) as batch_op:
        batch_op.create_index("ix_twilio_message_status_outbox", ["outbox_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("twilio_message_status", schema=None) as batch_op:
        batch_op.drop_index("ix_twilio_message_status_outbox")
    op.drop_table("twilio_message_status")
