"""event: what kind of actor the actor names (employee, system, cli, sender)

Revision ID: 0015
Revises: 0014

An event's actor was a bare name compared with employee keys, so a command-line user whose
``--actor`` (or ``$USER``) equalled an employee's key counted as that employee (issue 15, item 4).
``actor_kind`` says what the name is (storage/actors.py); access rules take only ``employee``.

Existing rows are typed from what the old code could have written, in this order:

1. ``system``: the actor ``system`` (the column's default: the pipeline, scheduler, retention).
2. ``sender``: ``unknown-sender``; every ``staff_reply_refused`` (refused before any proof was
   looked at); a ``note_added`` whose ``proof`` is JSON null (an e-mail reply kept as a note
   because nothing proved it; notes from before proofs existed have no ``proof`` key).
3. ``employee``: the actor is an employee's key at migration time and the type is one staff make
   through the API, the dashboard or e-mail (STAFF_TYPES). A ``reassigned`` event, the one type
   ``ingest reassign`` also writes, needs the audit row the API and the dashboard write with it
   (``inquiry.reassign``, same actor, same moment); the command line writes none.
4. ``cli``: any other name: ``ingest reassign --actor`` (default ``$USER``, else ``cli``) was the
   only other way a name got into an event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The event types written with an employee as actor (ingest/inquiries/*, ingest/pipeline/staff_reply.py).
STAFF_TYPES = (
    "answered", "note_added", "closed", "reopened", "reassigned", "merged", "merged_into",
    "waiting_for_client", "complexity_changed", "received",
)  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_kind", sa.String(length=16), nullable=False, server_default="system"))
    if op.get_bind().dialect.name == "sqlite":
        proof_is_null = "json_type(data, '$.proof') = 'null'"
    else:
        proof_is_null = "json_typeof(data -> 'proof') = 'null'"
    op.execute(
        "UPDATE event SET actor_kind = 'sender' WHERE actor <> 'system' AND (actor = 'unknown-sender'"
        f" OR type = 'staff_reply_refused' OR (type = 'note_added' AND {proof_is_null}))"
    )
    types = ", ".join(f"'{t}'" for t in STAFF_TYPES)
    op.execute(
        "UPDATE event SET actor_kind = 'employee' WHERE actor_kind = 'system' AND actor <> 'system'"
        f' AND actor IN (SELECT "key" FROM employee) AND type IN ({types})'
        " AND (type <> 'reassigned' OR EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'inquiry.reassign'"
        " AND a.actor = event.actor AND a.at = event.at))"
    )
    op.execute("UPDATE event SET actor_kind = 'cli' WHERE actor_kind = 'system' AND actor <> 'system'")


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_column("actor_kind")
