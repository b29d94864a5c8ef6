"""inquiry: the deadline missed before a reassignment, and who held the inquiry then

Revision ID: 0014
Revises: 0013

A reassigned overdue inquiry gets a new due date the client is told (issue 16, item 5); the
deadline that passed stays in the figures against the employee who held the inquiry when it did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inquiry", sa.Column("missed_due_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # As in 0012: SQLite adds a nullable column with its REFERENCES in place; a batch copy of
        # the table would have to drop the old one, which foreign_keys=ON refuses.
        op.execute("ALTER TABLE inquiry ADD COLUMN missed_by_id INTEGER REFERENCES employee (id)")
        return
    op.add_column("inquiry", sa.Column("missed_by_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_inquiry_missed_by_id_employee", "inquiry", "employee", ["missed_by_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("inquiry", schema=None) as batch_op:
            batch_op.drop_column("missed_by_id")
            batch_op.drop_column("missed_due_at")
        return
    op.drop_constraint("fk_inquiry_missed_by_id_employee", "inquiry", type_="foreignkey")
    op.drop_column("inquiry", "missed_by_id")
    op.drop_column("inquiry", "missed_due_at")
