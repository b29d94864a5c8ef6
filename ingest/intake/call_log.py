"""``ingest import-calls``: call logs (Asterisk ``Master.csv``, a generic CSV export) to call receipts.

The file's encoding is given (``--encoding``) or detected: a byte-order mark
(UTF-8, UTF-16), else UTF-8 when the file is UTF-8, else windows-1257, what
Latvian Windows and the office's PBX exports write (see :func:`detect_encoding`).
Each physical line is decoded on its own, so one undecodable line is rejected
with its number and the rest are kept.

Each physical line is one record, parsed with the csv module in strict mode: a
quote left open at the end of its line is an error named by that line's number
(call logs carry no multi-line fields, so the next line is read as the next
record and nothing after a bad line is lost). A bad row is rejected with its
line number and the reason; the good rows are stored all the same.

Every call is stored as a receipt of the ``phone`` channel (JSON, see
channels/calls.py) through :class:`ReceiptStore`, in batches; the natural id is
the call's unique id (Asterisk ``uniqueid``; the mapped id column; else a hash of
the row), so importing a file again stores nothing new. Calls from internal
extensions are skipped. The same call twice in one file (an Asterisk ring group
writes one row per leg) is one call: answered if any leg was answered.

A call that starts in the future (more than ``future_skew`` ahead of the clock, as
the staff API allows) is rejected: it would open an inquiry due years ahead whose
reminders never fire. A missed call older than ``[calls] callback_window`` at the
moment of the import is stored and counted but opens nothing: the receipt carries
``imported_at`` and the phone channel decides (channels/calls.py).
"""

from __future__ import annotations

import csv
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from channels.calls import (
    ASTERISK_ANSWERED,
    CallbackWindow,
    call_document,
    encode,
    is_internal,
    normalise_number,
    row_hash,
)
from ingest.config import CallsSettings
from ingest.intake.file_encoding import EncodingError, detect_encoding, physical_lines

ASTERISK_COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
)
ASTERISK_MIN, ASTERISK_MAX = 16, len(ASTERISK_COLUMNS)
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "jā", "ja", "answered", "atbildēts"})
CLID = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<number>[^>]*)>\s*$')


class CallLogError(Exception):
    """The file cannot be imported at all (unreadable, no header, a mapped column missing)."""


class RowError(Exception):
    """This row is rejected; the message says why."""


@dataclass
class Rejected:
    line: int
    reason: str


@dataclass
class Call:
    line: int
    document: dict[str, Any]
    start: datetime

    @property
    def key(self) -> str:
        return f"{self.document['source']}:{self.document['call_id']}"


@dataclass
class ImportReport:
    file: str
    format: str
    rows: int = 0
    imported: int = 0
    missed: int = 0
    answered: int = 0
    duplicates: int = 0
    internal: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    new_receipt_ids: list[int] = field(default_factory=list)
    store_seconds: float = 0.0
    process_seconds: float = 0.0
    inquiries_opened: int = 0
    processed: dict[str, int] = field(default_factory=dict)
    # How the bytes were read, and whether that was detected (False: given with --encoding).
    encoding: str = "utf-8"
    encoding_detected: bool = True
    # Missed calls stored but outside the call-back window at the import: no inquiry, nothing sent.
    outside_window: int = 0


# --- reading lines ----------------------------------------------------------------------------


def parse_line(text: str, delimiter: str = ",") -> list[str]:
    """One CSV record from one line, strict: an unterminated quote or stray quote is a RowError."""
    reader = csv.reader([text], delimiter=delimiter, strict=True)
    try:
        return next(reader)
    except csv.Error as exc:
        message = str(exc)
        if "unexpected end of data" in message or "newline inside string" in message:
            raise RowError("unterminated quote (a quoted field is not closed before the end of the line)") from None
        raise RowError(f"bad CSV quoting: {message}") from None
    except StopIteration:
        raise RowError("empty record") from None


def _date(value: str, fmt: str, tz: ZoneInfo, what: str) -> datetime:
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value) if fmt == "iso" else datetime.strptime(value, fmt)
    except ValueError:
        raise RowError(f"bad {what} date {value[:60]!r} (expected {'ISO 8601' if fmt == 'iso' else fmt})") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _seconds(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    # ASCII digits, few enough for int(): isdigit() alone takes "²", and int() refuses 4300+ digits.
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise RowError(f"{what} {value[:60]!r} is not a whole number of seconds")
    return int(value)


# A call id becomes the receipt's natural id (``call:<source>:<id>``, at most 998 characters).
MAX_CALL_ID = 255


def _call_id(value: str) -> str:
    """The file's call id, if it can be one: the database cannot store NUL, nor an id over its column."""
    if len(value) > MAX_CALL_ID:
        raise RowError(f"call id of {len(value)} characters (at most {MAX_CALL_ID})")
    if not value.isprintable():
        raise RowError(f"call id {value[:40]!r} has unprintable characters")
    return value


# --- the two formats --------------------------------------------------------------------------


def asterisk_call(fields: list[str], *, line: int, settings: CallsSettings, tz: ZoneInfo) -> Call:
    if not ASTERISK_MIN <= len(fields) <= ASTERISK_MAX:
        raise RowError(f"{len(fields)} columns; an Asterisk CDR line has {ASTERISK_MIN} to {ASTERISK_MAX}")
    row = dict(zip(ASTERISK_COLUMNS, fields, strict=False))
    start = _date(row["start"], settings.asterisk_date_format, tz, "start")
    if row["answer"].strip():
        _date(row["answer"], settings.asterisk_date_format, tz, "answer")
    duration = _seconds(row["duration"], "duration")
    _seconds(row["billsec"], "billsec")
    disposition = row["disposition"].strip().upper()
    missed = {d.upper() for d in settings.asterisk_missed}
    if disposition not in missed and disposition not in ASTERISK_ANSWERED:
        raise RowError(f"unknown disposition {row['disposition']!r}")
    name = None
    clid = CLID.match(row["clid"])
    if clid and clid.group("name").strip() and clid.group("name").strip() != clid.group("number").strip():
        name = clid.group("name").strip()
    return Call(
        line,
        call_document(
            source="asterisk",
            call_id=_call_id(row.get("uniqueid", "").strip()) or row_hash(fields),
            from_raw=row["src"].strip(),
            to_raw=row["dst"].strip(),
            start=start,
            answered=disposition in ASTERISK_ANSWERED,
            duration=duration,
            disposition=disposition,
            caller_name=name,
            direction="inbound",
            record=row,
        ),
        start,
    )


class GenericCsv:
    """A CSV export with a header row; ``[calls.csv_columns]`` says which column is which."""

    def __init__(self, header: list[str], *, settings: CallsSettings, tz: ZoneInfo) -> None:
        self.header = [h.strip() for h in header]
        self.settings, self.tz = settings, tz
        self.index: dict[str, int] = {}
        for ours, theirs in settings.csv_columns.items():
            if theirs not in self.header:
                raise CallLogError(f"column {theirs!r} (calls.csv_columns.{ours}) is not in the header line")
            self.index[ours] = self.header.index(theirs)
        self.missed = {s.strip().lower() for s in settings.csv_missed_statuses}

    def call(self, fields: list[str], *, line: int) -> Call:
        if len(fields) != len(self.header):
            raise RowError(f"{len(fields)} columns; the header has {len(self.header)}")

        def get(name: str) -> str:
            return fields[self.index[name]].strip() if name in self.index else ""

        start = _date(get("start"), self.settings.csv_date_format, self.tz, "start")
        status = get("status")
        if "answered" in self.index:
            answered = get("answered").lower() in TRUE_WORDS
        elif not status:
            raise RowError("empty status")
        else:
            answered = status.lower() not in self.missed
        return Call(
            line,
            call_document(
                source="csv",
                call_id=_call_id(get("call_id")) or row_hash(fields),
                from_raw=get("from"),
                to_raw=get("to"),
                start=start,
                answered=answered,
                duration=_seconds(get("duration"), "duration"),
                disposition=status or ("answered" if answered else "missed"),
                caller_name=get("caller_name") or None,
                direction="inbound",
                record=dict(zip(self.header, fields, strict=True)),
            ),
            start,
        )


# How far ahead of the clock a call may start (clocks differ); the staff API's default.
FUTURE_SKEW = timedelta(minutes=5)


def _not_in_future(call: Call, latest: datetime, tz: ZoneInfo) -> Call:
    if call.start > latest:
        raise RowError(
            f"start {call.start.astimezone(tz):%Y-%m-%d %H:%M:%S} is in the future "
            f"(later than {latest.astimezone(tz):%Y-%m-%d %H:%M} by this computer's clock)"
        )
    return call


def read_calls(
    data: bytes,
    *,
    fmt: str,
    settings: CallsSettings,
    tz: ZoneInfo,
    report: ImportReport,
    encoding: str | None = None,
    now: datetime | None = None,
    future_skew: timedelta = FUTURE_SKEW,
) -> list[Call]:
    """The good calls of a file, one per call id (the rest counted in the report).

    ``encoding`` None detects it; ``now`` (default: the clock) bounds the start times."""
    calls: dict[str, Call] = {}
    generic: GenericCsv | None = None
    delimiter = settings.csv_delimiter if fmt == "csv" else ","
    latest = (now or datetime.now(UTC)) + future_skew
    report.encoding, report.encoding_detected = encoding or detect_encoding(data), encoding is None
    try:
        lines = physical_lines(data, report.encoding)
    except EncodingError as exc:
        raise CallLogError(str(exc)) from None
    for line, text, reason in lines:
        if fmt == "csv" and generic is None:
            if text is None:
                raise CallLogError(f"line {line}: the header line is {reason}")
            try:
                generic = GenericCsv(parse_line(text, delimiter), settings=settings, tz=tz)
            except RowError as exc:
                raise CallLogError(f"line {line}: the header line cannot be read: {exc}") from None
            continue
        report.rows += 1
        try:
            if text is None:
                raise RowError(reason)
            fields = parse_line(text, delimiter)
            call = (
                asterisk_call(fields, line=line, settings=settings, tz=tz)
                if generic is None
                else generic.call(fields, line=line)
            )
            _not_in_future(call, latest, tz)
        except RowError as exc:
            report.rejected.append(Rejected(line, str(exc)))
            continue
        number = call.document["from"]
        if number and is_internal(normalise_number(number), settings.internal_numbers):
            report.internal += 1
            continue
        seen = calls.get(call.key)
        if seen is None:
            calls[call.key] = call
            continue
        report.duplicates += 1
        if call.document["answered"] and not seen.document["answered"]:
            calls[call.key] = Call(seen.line, call.document, call.start)
    if fmt == "csv" and generic is None:
        raise CallLogError("the file has no header line")
    return sorted(calls.values(), key=lambda c: c.line)


# --- progress ---------------------------------------------------------------------------------


class Progress:
    """A text progress bar on stderr (a line per tenth when stderr is not a terminal)."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30, what: str = "stored") -> None:
        self.stream = stream or sys.stderr  # looked up now: tests and callers swap sys.stderr
        self.total, self.width, self.what = max(total, 1), width, what
        self.tty = self.stream.isatty()
        self.shown = -1

    def update(self, done: int, what: str | None = None) -> None:
        what = what or self.what
        share = min(done / self.total, 1.0)
        if self.tty:
            # Redrawn per thousandth, not per call: 50,000 writes to a terminal cost seconds.
            step = int(share * 1000)
            if step == self.shown and done < self.total:
                return
            self.shown = step
            bar = "#" * int(share * self.width)
            self.stream.write(f"\r[{bar:<{self.width}}] {done}/{self.total} {what}")
            self.stream.flush()
            return
        tenth = int(share * 10)
        if tenth > self.shown:
            self.shown = tenth
            self.stream.write(f"{what} {done}/{self.total} ({share:.0%})\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --- storing ----------------------------------------------------------------------------------


def import_calls(
    path: Path,
    *,
    fmt: str,
    settings: CallsSettings,
    tz: ZoneInfo,
    store_batch: Callable[[list[tuple[bytes, dict[str, Any]]]], list[Any]],
    progress: Progress | None = None,
    encoding: str | None = None,
    now: datetime | None = None,
    future_skew: timedelta = FUTURE_SKEW,
    callback_window: CallbackWindow | None = None,
) -> ImportReport:
    """Read, check and store; ``store_batch`` is ReceiptStore.store_batch_sync for the phone channel.

    ``callback_window`` only counts the missed calls outside it: the phone channel, given the same
    window, is what keeps them from opening an inquiry (it reads the ``imported_at`` stamped here)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CallLogError(f"cannot read {path}: {exc.strerror}") from None
    now = now or datetime.now(UTC)
    report = ImportReport(file=str(path), format=fmt)
    started = time.perf_counter()
    calls = read_calls(
        data, fmt=fmt, settings=settings, tz=tz, report=report, encoding=encoding, now=now, future_skew=future_skew
    )
    bar = progress or Progress(len(calls))
    bar.total = max(len(calls), 1)
    done = 0
    meta = {"import": path.name, "format": fmt, "imported_at": now.isoformat()}
    for i in range(0, len(calls), settings.batch_size):
        batch = calls[i : i + settings.batch_size]
        items = [(encode(c.document), {**meta, "line": c.line}) for c in batch]
        for call, stored in zip(batch, store_batch(items), strict=True):
            if stored.duplicate:
                report.duplicates += 1
                continue
            report.imported += 1
            report.new_receipt_ids.append(stored.id)
            if call.document["answered"]:
                report.answered += 1
                continue
            report.missed += 1
            if callback_window is not None and not callback_window.is_open(call.start, now):
                report.outside_window += 1
        done += len(batch)
        bar.update(done)
    bar.close()
    report.store_seconds = time.perf_counter() - started
    return report
