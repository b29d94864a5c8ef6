"""``ingest import-calls``: a call log stored as call receipts; missed calls become call-back inquiries."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from babel.support import Translations

from ingest.cli.common import config_arg, load_settings, opened, terminal_translations

if TYPE_CHECKING:
    from ingest.config import Settings
    from ingest.intake.call_log import ImportReport
    from storage.db import SessionFactory


def cmd_import_calls(args: argparse.Namespace) -> int:
    """Store a call log's calls as phone receipts, then turn the missed ones into call-back inquiries."""
    settings = load_settings(args.config)
    translations = terminal_translations()
    with opened(settings) as sessions:
        report = _store(args, settings, sessions, translations)
        if report is None:
            return 2
        if report.new_receipt_ids and not args.no_process:
            _process(report, settings, sessions, translations)
    print("\n".join(report_lines(report, translations)))
    return 1 if report.rejected else 0


def _store(
    args: argparse.Namespace, settings: Settings, sessions: SessionFactory, translations: Translations
) -> ImportReport | None:
    """Read, check and store the file; None when it cannot be imported at all (said on stderr)."""
    from channels.calls import CallChannel
    from ingest.assembly import channels_from_settings
    from ingest.intake.call_log import CallLogError, Progress, import_calls
    from ingest.intake.receipts import ReceiptStore
    from storage.types import utcnow

    channel = channels_from_settings(settings)["phone"]
    assert isinstance(channel, CallChannel)
    store = ReceiptStore(sessions=sessions, clock=utcnow)
    source = "asterisk-cdr" if args.format == "asterisk" else "csv-import"
    try:
        return import_calls(
            Path(args.file),
            fmt=args.format,
            settings=settings.calls,
            tz=ZoneInfo(settings.calls.timezone or settings.service.timezone),
            store_batch=lambda items: store.store_batch_sync(channel, source=source, items=items, wake=False),
            progress=Progress(0, what=translations.gettext("stored")),
            encoding=args.encoding,
            now=utcnow(),
            # The staff API's allowance for a clock running ahead (``[interactions]``).
            future_skew=timedelta(minutes=settings.interactions.future_skew_minutes),
            # The channel holds the same window: the count here is what it will decide.
            callback_window=channel.callback_window,
        )
    except CallLogError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return None


def _process(report: ImportReport, settings: Settings, sessions: SessionFactory, translations: Translations) -> None:
    """The same pipeline the service runs, in its batches, with progress after each batch (a
    running service may take some first: they count as skipped here)."""
    from ingest.assembly import build_pipeline, sync_employees
    from ingest.intake.call_log import Progress
    from ingest.pipeline.runner import Outcome
    from storage.types import utcnow

    sync_employees(sessions, settings)
    pipeline = build_pipeline(settings, sessions, utcnow)
    ids = report.new_receipt_ids
    bar = Progress(len(ids), what=translations.gettext("processed"))
    started = time.perf_counter()
    outcomes = pipeline.process_all(ids, progress=bar.update)
    bar.close()
    report.process_seconds = time.perf_counter() - started
    report.processed = {outcome.value: n for outcome, n in outcomes.items()}
    report.inquiries_opened = outcomes[Outcome.NEW_INQUIRY]


def report_lines(report: ImportReport, translations: Translations) -> list[str]:
    """What the import did, for the person at the terminal (in their language)."""
    _, ngettext = translations.gettext, translations.ngettext
    rate = report.rows / report.store_seconds if report.store_seconds > 0 else 0.0
    encoding = (
        _("encoding:   %(encoding)s (detected)") if report.encoding_detected else _("encoding:   %(encoding)s (given)")
    )
    out = [
        ngettext("%(file)s (%(format)s): %(count)s row", "%(file)s (%(format)s): %(count)s rows", report.rows)
        % {"file": report.file, "format": report.format, "count": report.rows},
        "  " + encoding % {"encoding": report.encoding},
        "  "
        + _("imported:   %(imported)s (missed %(missed)s, answered %(answered)s)")
        % {"imported": report.imported, "missed": report.missed, "answered": report.answered},
    ]
    if report.outside_window:
        n = report.outside_window
        late = ngettext(
            "late:       %(count)s missed call older than the call-back window: stored, no call-back opened",
            "late:       %(count)s missed calls older than the call-back window: stored, no call-back opened",
            n,
        )
        out.append("  " + late % {"count": n})
    out += [
        "  " + _("duplicates: %(count)s") % {"count": report.duplicates},
        "  " + _("internal:   %(count)s (calls from internal extensions, skipped)") % {"count": report.internal},
        "  " + _("rejected:   %(count)s") % {"count": len(report.rejected)},
    ]
    out += ["    " + _("line %(line)s: %(reason)s") % {"line": r.line, "reason": r.reason} for r in report.rejected]
    out.append("  " + _("stored in %(seconds)s s (%(rate)s rows/s)") % {"seconds": f"{report.store_seconds:.2f}",
                                                                          "rate": f"{rate:.0f}"})  # fmt: skip
    if report.processed:
        said = _("processed:  %(count)s in %(seconds)s s; call-back inquiries opened: %(opened)s")
        out.append("  " + said % {"count": sum(report.processed.values()), "seconds": f"{report.process_seconds:.2f}",
                                  "opened": report.inquiries_opened})  # fmt: skip
    return out


def _encoding(name: str) -> str:
    from ingest.intake.file_encoding import EncodingError, check_encoding

    try:
        return check_encoding(name)
    except EncodingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(sub: Any) -> None:
    calls = sub.add_parser(
        "import-calls",
        help="import a call log (Asterisk Master.csv or a CSV export); missed calls become call-back inquiries",
    )
    calls.add_argument("file")
    calls.add_argument("--format", choices=("asterisk", "csv"), default="asterisk", help="asterisk (default) or csv")
    calls.add_argument(
        "--encoding",
        type=_encoding,
        default=None,
        help="the file's encoding (utf-8, windows-1257, utf-16, ...); default: detected "
        "(a byte-order mark, else UTF-8 if the file is UTF-8, else windows-1257)",
    )
    calls.add_argument(
        "--no-process", action="store_true", help="only store the calls; the running service's pipeline takes them up"
    )
    config_arg(calls)
    calls.set_defaults(func=cmd_import_calls)
