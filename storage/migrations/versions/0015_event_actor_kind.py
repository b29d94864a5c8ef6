"""event: what kind of actor the actor names (employee, system, cli, sender)

Revision ID: 0015
Revises: 0014

An event's actor was a bare name compared with employee keys, so a command-line user whose
``--actor`` (or ``$USER``) equalled an employee's key counted as that employee (issue 15, item 4).
``actor_kind`` says what the name is (storage/actors.py); access rules take only ``employee``.

Existing rows are typed from what the old code could have written, in this order:

1. ``system``: the actor ``system`` (the column's default: the pipeline, scheduler, retention).
2. ``sender``, what an e-mail's From named and nothing (or nothing enough) proved:
   ``unknown-sender``; every ``staff_reply_refused`` (refused before any proof was looked at); an
   e-mail reply kept as a note (``note_added`` with ``via: "email"`` or a ``relayed`` key) whose
   ``proof`` is JSON null or missing (notes from before proofs existed were kept on From alone),
   or proven but from someone it did not bind (neither the inquiry's responsible employee nor a
   recipient of its staff e-mails other than "not sent on" notices: a forwarded reply address);
   every ``answered`` with ``via: "email"`` (its event never recorded a proof, and before proofs
   existed From alone sent it on; the responsible employee keeps their access by assignment,
   routing or reassignment); a ``closed`` by ``#slēgt`` whose note (same inquiry, actor and
   moment) is typed ``sender``.
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


def _json(dialect: str, data: str = "data") -> dict[str, str]:
    """SQL on an event's JSON ``data`` column, for the dialect (a missing ``proof`` is unproven)."""
    if dialect == "sqlite":
        return {
            "via": f"json_extract({data}, '$.via')",
            "command": f"json_extract({data}, '$.command')",
            "relayed": f"json_type({data}, '$.relayed') IS NOT NULL",
            "unproven": f"coalesce(json_type({data}, '$.proof'), 'null') = 'null'",
        }
    return {
        "via": f"({data} ->> 'via')",
        "command": f"({data} ->> 'command')",
        "relayed": f"({data} -> 'relayed') IS NOT NULL",
        "unproven": f"coalesce(json_typeof({data} -> 'proof'), 'null') = 'null'",
    }


# The actor (an employee) was the inquiry's responsible employee or was sent one of its staff
# e-mails (ingest/pipeline/staff_reply.py: STAFF_KINDS, but not the "not sent on" notice).
BOUND = (
    'EXISTS (SELECT 1 FROM employee e JOIN inquiry i ON i.id = event.inquiry_id WHERE e."key" = event.actor'
    " AND (i.employee_id = e.id OR EXISTS (SELECT 1 FROM outbox o WHERE o.inquiry_id = event.inquiry_id"
    " AND lower(o.recipient) = lower(e.email) AND o.kind <> 'staff_reply_not_relayed'"
    " AND (o.kind LIKE 'staff%' OR o.kind LIKE 'deadline%'))))"
)


def _type_senders(dialect: str) -> None:
    j = _json(dialect)
    email_note = f"type = 'note_added' AND ({j['via']} = 'email' OR {j['relayed']})"
    op.execute(
        "UPDATE event SET actor_kind = 'sender' WHERE actor <> 'system' AND (actor = 'unknown-sender'"
        f" OR type = 'staff_reply_refused' OR ({email_note} AND ({j['unproven']} OR NOT {BOUND}))"
        f" OR (type = 'answered' AND {j['via']} = 'email'))"
    )
    note = _json(dialect, "e2.data")
    op.execute(
        "UPDATE event SET actor_kind = 'sender' WHERE type = 'closed' AND actor <> 'system'"
        " AND EXISTS (SELECT 1 FROM event e2 WHERE e2.inquiry_id = event.inquiry_id AND e2.at = event.at"
        " AND e2.actor = event.actor AND e2.type = 'note_added' AND e2.actor_kind = 'sender'"
        f" AND {note['via']} = 'email' AND {note['command']} = 'close')"
    )


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_kind", sa.String(length=16), nullable=False, server_default="system"))
    _type_senders(op.get_bind().dialect.name)
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
