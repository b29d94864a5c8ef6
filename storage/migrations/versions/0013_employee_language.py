"""employee: the language they work in

Revision ID: 0013
Revises: 0012

Each employee's own language for the workspace and the e-mails the service writes to them
(issue 12, "Languages"): Latvian unless the configuration says otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("employee", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="lv"))


def downgrade() -> None:
    with op.batch_alter_table("employee", schema=None) as batch_op:
        batch_op.drop_column("language")
