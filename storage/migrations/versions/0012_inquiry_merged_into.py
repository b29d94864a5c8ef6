"""inquiry: merged into another inquiry

Revision ID: 0012
Revises: 0011

An inquiry merged into another of the same client (issue 12, "merge") keeps a pointer to it, so
its reference still answers (with where it went) and a reply that threads onto it lands there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a nullable column with its REFERENCES in place. A batch copy of the table
        # would have to drop the old one, which foreign_keys=ON refuses while messages point at it.
        op.execute("ALTER TABLE inquiry ADD COLUMN merged_into_id INTEGER REFERENCES inquiry (id)")
        return
    op.add_column("inquiry", sa.Column("merged_into_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_inquiry_merged_into_id_inquiry", "inquiry", "inquiry", ["merged_into_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("inquiry", schema=None) as batch_op:
            batch_op.drop_column("merged_into_id")
        return
    op.drop_constraint("fk_inquiry_merged_into_id_inquiry", "inquiry", type_="foreignkey")
    op.drop_column("inquiry", "merged_into_id")
