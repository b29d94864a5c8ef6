"""Why an internal note kept from an e-mail reply may not be its named author's own words.

The ``reason`` of its ``note_added`` event (ingest/pipeline/staff_reply.py decides it; the
inquiry page marks the note with it, ingest/dashboard/note_marks.py). None: proven theirs.
"""

from __future__ import annotations

# From names an employee; nothing proves the e-mail is theirs (no DKIM, no office mail server).
UNVERIFIED = "unverified"
# Proven theirs, but the notification it answers did not go to them (nor are they responsible).
NOT_YOURS = "not_yours"
# From names no employee at all.
UNKNOWN_SENDER = "unknown_sender"
