"""indexes for two lookups that read whole tables as history grows

Revision ID: 0010
Revises: 0009

Found by bench/bench_growth.py (EXPLAIN at 1,000,000 inquiries):
- threading by In-Reply-To / References (repo.inquiry_for_references) looks messages up by
  external_id alone; the unique constraint is on (channel, external_id), which a lookup without
  the channel cannot use: every reply scanned the message table;
- the acknowledgement window (Notices.client_ack: an ack to this address within the window?)
  looks outbox rows up by recipient and creation time: every new inquiry scanned the outbox.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_external_id", ["external_id"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_recipient_created", ["recipient", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_recipient_created")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_external_id")
