"""The actor names the service writes into events and audit rows when no employee acted.

An employee key must never equal one of them: access rules compare an event's actor with
the employee's key (``ingest/inquiries/access.py``), so an employee called ``system`` would
count as having handled every inquiry. ``ingest check-config`` refuses these keys.
"""

from __future__ import annotations

# The default actor of events and audit rows (the pipeline, the scheduler, retention).
SYSTEM = "system"
# A staff reply whose sender is not an employee.
UNKNOWN_SENDER = "unknown-sender"
# The command line's actor when $USER is not set.
CLI = "cli"

RESERVED_ACTORS: frozenset[str] = frozenset({SYSTEM, UNKNOWN_SENDER, CLI})
