"""`ingest serve` with the outbox lease shortened, for tests that kill a process mid-delivery.

Run as ``python -m tests.serve_short_lease serve --config FILE``: the same entry point as
``python -m ingest.cli``, except that rows a killed process had claimed are taken again after a
few seconds instead of the production five minutes (``ingest.outbox.LEASE``).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import ingest.outbox
from ingest.cli import main

if __name__ == "__main__":
    ingest.outbox.LEASE = timedelta(seconds=float(os.environ.get("TEST_OUTBOX_LEASE_SECONDS", "3")))
    sys.exit(main(sys.argv[1:]))
