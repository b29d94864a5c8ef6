"""contact link suggestions, and the name key contacts are compared by

Revision ID: 0016
Revises: 0015

The service suggests linking an e-mail contact with a phone contact when it sees the number in an
e-mail or the same name on both (issue 18): one row per pair, open until staff accept or dismiss
it. ``contact.name_key`` (storage/names.py, copied here as it was) makes "the same name" one indexed look-up; existing
contacts get theirs here.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BATCH = 1000
NAME_KEY_LENGTH = 200


def upgrade() -> None:
    # A nullable column without a constraint: added in place on SQLite too, no copy of the table.
    op.add_column("contact", sa.Column("name_key", sa.String(length=200), nullable=True))
    op.create_index("ix_contact_name_key", "contact", ["name_key"], unique=False)
    _fill_name_keys()
    op.create_table(
        "contact_link_suggestion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_contact_id", sa.Integer(), nullable=False),
        sa.Column("phone_contact_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["email_contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["phone_contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_contact_id", "phone_contact_id", name="uq_contact_link_suggestion_pair"),
    )
    op.create_index("ix_contact_link_suggestion_state", "contact_link_suggestion", ["state"], unique=False)


def _fill_name_keys() -> None:
    """The key of every named contact, in batches of updates (the key is computed in Python: the
    two databases fold case and diacritics differently, or not at all)."""
    bind = op.get_bind()
    contact = sa.table("contact", sa.column("id", sa.Integer()), sa.column("name", sa.String()),
                       sa.column("name_key", sa.String()))  # fmt: skip
    rows = bind.execute(sa.select(contact.c.id, contact.c.name).where(contact.c.name.is_not(None))).all()
    keyed = [{"row_id": row_id, "key": name_key(name)} for row_id, name in rows]
    keyed = [k for k in keyed if k["key"] is not None]
    update = contact.update().where(contact.c.id == sa.bindparam("row_id")).values(name_key=sa.bindparam("key"))
    for start in range(0, len(keyed), BATCH):
        bind.execute(update, keyed[start : start + BATCH])


def name_key(name: str | None) -> str | None:
    """storage/names.py's ``name_key`` as of this revision (a migration does not change when the
    service's code does): letters without diacritics, case folded, words of two letters or more,
    sorted; None for fewer than two such words."""
    if not name:
        return None
    letters = "".join(
        c if c.isalpha() else " " for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    )
    words = sorted(word for word in letters.casefold().split() if len(word) > 1)
    if len(words) < 2:
        return None
    return " ".join(words)[:NAME_KEY_LENGTH]


def downgrade() -> None:
    op.drop_index("ix_contact_link_suggestion_state", table_name="contact_link_suggestion")
    op.drop_table("contact_link_suggestion")
    op.drop_index("ix_contact_name_key", table_name="contact")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("contact", schema=None) as batch_op:
            batch_op.drop_column("name_key")
        return
    op.drop_column("contact", "name_key")
