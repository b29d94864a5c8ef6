"""covering indexes for counting receipts and outgoing messages by channel and status

Revision ID: 0011
Revises: 0010

/metrics counts both tables by (channel, status) at every scrape. Without an index holding both
columns, SQLite reads each row, and a receipt's row carries its raw message: a scrape read every
stored e-mail (43 ms for 1,000 receipts of 200 KB, growing with the database). With these, the
count reads the index only.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.create_index("ix_receipt_channel_status", ["channel", "status"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_channel_status", ["channel", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_channel_status")
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.drop_index("ix_receipt_channel_status")
