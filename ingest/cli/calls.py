"""``ingest import-calls``: a call log stored as call receipts; missed calls become call-back inquiries."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.cli.common import config_arg, load_settings, opened


def cmd_import_calls(args: argparse.Namespace) -> int:
    """Store a call log's calls as phone receipts, then turn the missed ones into call-back inquiries."""
    from channels.calls import CallChannel
    from ingest.assembly import build_pipeline, channels_from_settings, sync_employees
    from ingest.intake.call_log import CallLogError, import_calls
    from ingest.intake.receipts import ReceiptStore
    from ingest.pipeline.runner import Outcome
    from storage.types import utcnow

    settings = load_settings(args.config)
    tz = ZoneInfo(settings.calls.timezone or settings.service.timezone)
    with opened(settings) as sessions:
        channel = channels_from_settings(settings)["phone"]
        assert isinstance(channel, CallChannel)
        store = ReceiptStore(sessions=sessions, clock=utcnow)
        source = "asterisk-cdr" if args.format == "asterisk" else "csv-import"
        try:
            report = import_calls(
                Path(args.file),
                fmt=args.format,
                settings=settings.calls,
                tz=tz,
                store_batch=lambda items: store.store_batch_sync(channel, source=source, items=items, wake=False),
            )
        except CallLogError as exc:
            print(f"ingest: {exc}", file=sys.stderr)
            return 2
        if report.new_receipt_ids and not args.no_process:
            # The same pipeline the service runs: a running service may take some first (skipped here).
            import time

            sync_employees(sessions, settings)
            pipeline = build_pipeline(settings, sessions, utcnow)
            started = time.perf_counter()
            outcomes = pipeline.process_all(report.new_receipt_ids)
            report.process_seconds = time.perf_counter() - started
            report.processed = {outcome.value: n for outcome, n in outcomes.items()}
            report.inquiries_opened = outcomes[Outcome.NEW_INQUIRY]
    print("\n".join(report.lines()))
    return 1 if report.rejected else 0


def add_commands(sub: Any) -> None:
    calls = sub.add_parser(
        "import-calls",
        help="import a call log (Asterisk Master.csv or a CSV export); missed calls become call-back inquiries",
    )
    calls.add_argument("file")
    calls.add_argument("--format", choices=("asterisk", "csv"), default="asterisk", help="asterisk (default) or csv")
    calls.add_argument(
        "--no-process", action="store_true", help="only store the calls; the running service's pipeline takes them up"
    )
    config_arg(calls)
    calls.set_defaults(func=cmd_import_calls)
