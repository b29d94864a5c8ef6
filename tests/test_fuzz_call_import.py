"""Fuzzing ``ingest import-calls``: Asterisk Master.csv and mapped CSV exports of any shape.

Properties, for any file bytes (random quoting, unterminated quotes, wrong column counts, bad
dates, BOMs, CRLF/LF mixes, non-UTF-8 bytes, windows-1257 lines among UTF-8 ones, NUL, huge fields):

- reading never raises, except ``CallLogError`` for a mapped CSV whose header cannot be used
  (the CLI's "refused as a whole", exit 2); an Asterisk file is never refused as a whole;
- every non-blank data line is counted once, and a rejected one is reported with its own line
  number and a reason; the counts add up:
  ``imported + duplicates + internal + rejected == rows``;
- importing into a real database (SQLite and PostgreSQL) never raises, and importing the same file
  again stores nothing: everything the first import stored is now a duplicate.
"""

from __future__ import annotations

import codecs
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from ingest.assembly import channels_from_settings
from ingest.config import CallsSettings
from ingest.intake.call_log import CallLogError, ImportReport, Progress, import_calls, read_calls
from ingest.intake.file_encoding import physical_lines
from ingest.intake.receipts import ReceiptStore
from storage.db import make_engine, migrate, session_factory
from storage.models import Receipt
from tests.fuzz_support import fuzz_settings, hang_guard
from tests.support import DATA

TZ = ZoneInfo("Europe/Riga")
CALLS = CallsSettings()
MASTER_LINES = (DATA / "own" / "asterisk-Master.csv").read_bytes().splitlines()

# --- strategies -----------------------------------------------------------------------------------

DATES = [
    "2026-11-24 09:14:03", "2026-11-32 11:30:00", "2026-02-29 10:00:00", "2026-03-29 03:30:00", "24.11.2026 09:10",
    "", "2026-11-24T09:14:03+02:00", "9999-12-31 23:59:59", "0001-01-01 00:00:00", "2026-11-24 9:4:3", "now",
]  # fmt: skip
NUMBERS = ["29123456", "+37167123456", "0037129998877", "100", "", "anonymous", "2912345ā", "\x00", "²", "+" + "9" * 40]
DISPOSITIONS = ["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION", "answered", "", "MAYBE"]
SECONDS = ["0", "30", "", "-1", "1.5", "²", "٣", "9" * 5000, " 7 "]


def mostly(good: list[str], every: list[str]) -> st.SearchStrategy[str]:
    """Usually one of the good values (so that rows get through), now and then any."""
    return st.sampled_from(good * 4 + every)


date = mostly(["2026-11-24 09:14:03", "2026-11-25 16:59:59"], DATES)
seconds = mostly(["0", "30"], SECONDS)
number = mostly(["29123456", "+37167123456", "26543210"], NUMBERS)
field_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(DATES + NUMBERS + DISPOSITIONS + SECONDS),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", '"', ",", "\x00", "ā"]), st.integers(1, 3000)),
)


def _quote(value: str, how: str) -> str:
    if how == "raw":  # as is, even when the value has a comma or a quote
        return value
    if how == "quoted" or (how == "plain" and any(c in value for c in ',"\r')):
        return '"' + value.replace('"', '""') + '"'
    if how == "unterminated":
        return '"' + value
    return value + '"'  # a stray quote at the end


@st.composite
def asterisk_row(draw: st.DrawFn) -> str:
    """A CDR line: mostly well-formed fields, each possibly replaced, quoted oddly, or missing."""
    if draw(st.integers(0, 2)):
        # A good line (two in three), so that plenty reach the database.
        start = draw(st.sampled_from(["2026-11-24 09:14:03", "2026-11-25 16:59:59", "2026-03-29 03:30:00"]))
        return ",".join(
            f'"{v}"'
            for v in (
                "", draw(st.sampled_from(NUMBERS[:4])), "100", "from-pstn", "", "PJSIP/a", "PJSIP/b", "Dial", "d",
                start, "", start, draw(st.sampled_from(["0", "30"])), "0",
                draw(st.sampled_from(["NO ANSWER", "BUSY", "ANSWERED"])), "DOCUMENTATION",
                draw(st.one_of(st.just(""), st.integers(0, 10**9).map(lambda n: f"{n}.1"))), "",
            )
        )  # fmt: skip
    uid = draw(
        st.one_of(
            st.sampled_from(["1764054843.2593", "1764068520.2607", ""]), st.integers(0, 10**9).map(lambda n: f"{n}.1")
        )
    )
    fields = [
        "", draw(number), "100", "from-pstn", draw(st.sampled_from(['"Anna" <29123456>', "", '"x'])),
        "PJSIP/a", "PJSIP/b", "Dial", "PJSIP/100,30", draw(date), draw(st.sampled_from(["", *DATES])),
        draw(date), draw(seconds), draw(seconds),
        draw(mostly(["NO ANSWER", "BUSY", "ANSWERED"], DISPOSITIONS)), "DOCUMENTATION", uid, "",
    ]  # fmt: skip
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        fields[draw(st.integers(0, len(fields) - 1))] = draw(field_text)
    fields = fields[: draw(st.sampled_from([18] * 6 + [17, 16, 15, 19, 1]))]
    if len(fields) == 19:
        fields.append("extra")
    style = draw(st.sampled_from(["quoted", "quoted", "plain", "mixed"]))
    quoting = (
        st.sampled_from(["quoted", "plain", "raw", "unterminated", "stray"]) if style == "mixed" else st.just(style)
    )
    return ",".join(_quote(f, draw(quoting)) for f in fields)


HEADERS = ["id", "from", "to", "start", "duration", "status"]


@st.composite
def mapped_csv(draw: st.DrawFn) -> str:
    header = list(draw(st.permutations(HEADERS)))
    if draw(st.integers(0, 5)) == 0:
        header.pop(draw(st.integers(0, len(header) - 1)))  # a mapped column missing: refused whole
    if draw(st.booleans()):
        header.append(draw(st.text(max_size=8)))
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 8))):
        good = draw(st.integers(0, 2)) > 0
        values = {
            "id": draw(
                st.one_of(st.sampled_from(["z-1", "z-2", ""]), st.text(max_size=6), st.integers(0, 10**9).map(str))
            ),
            "from": draw(number),
            "to": "67000100",
            "start": draw(date),
            "duration": draw(seconds),
            "status": draw(mostly(["missed", "answered"], ["", "Neatbildēts", "BUSY"])),
        }
        if good:
            values.update(
                start="2026-11-24 09:14:03", duration="0", status=draw(st.sampled_from(["missed", "answered"]))
            )
            values["from"] = draw(st.sampled_from(NUMBERS[:3]))
            lines.append(",".join(_quote(values.get(h, "x"), "plain") for h in header))
            continue
        row = [values.get(h, draw(st.text(max_size=5))) for h in header]
        if draw(st.integers(0, 4)) == 0:
            row[draw(st.integers(0, len(row) - 1))] = draw(field_text)
        if draw(st.integers(0, 6)) == 0:
            row = row[:-1] if draw(st.booleans()) else row + ["x"]
        lines.append(
            ",".join(_quote(v, draw(st.sampled_from(["plain"] * 6 + ["quoted", "raw", "unterminated"]))) for v in row)
        )
    return "\n".join(lines)


@st.composite
def file_bytes(draw: st.DrawFn, lines: st.SearchStrategy[list[str]]) -> bytes:
    """Lines joined with mixed line ends, perhaps a BOM, blank lines, non-UTF-8 bytes and NUL."""
    out = b""
    if draw(st.booleans()):
        out += codecs.BOM_UTF8
    for line in draw(lines):
        data = line.encode("utf-8")
        mangle = draw(st.sampled_from(["none"] * 8 + ["latin-1", "cp1257", "bytes", "nul", "blank"]))
        if mangle == "latin-1":
            data = line.encode("latin-1", "replace") + b"\xe2"
        elif mangle == "cp1257":
            data = (line + "ā").encode("cp1257", "replace")
        elif mangle == "bytes":
            data += draw(st.binary(min_size=1, max_size=6))
        elif mangle == "nul" and data:
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + b"\x00" + data[i:]
        elif mangle == "blank":
            data = b"  \t"
        out += data + draw(st.sampled_from([b"\n", b"\r\n", b"\r\r\n", b"\n\n"]))
    if draw(st.booleans()):
        out = out.rstrip(b"\r\n")  # no newline at the end
    return out


asterisk_file = file_bytes(st.lists(asterisk_row(), max_size=12))
asterisk_mutated = st.builds(
    lambda lines, cut: b"\n".join(lines)[:cut],
    st.permutations(MASTER_LINES),
    st.integers(0, 4000),
)
csv_file = file_bytes(mapped_csv().map(lambda text: text.split("\n")))


# --- the properties ---------------------------------------------------------------------------------


def data_lines(data: bytes) -> list[int]:
    return [line for line, _, _ in physical_lines(data)]


def check_read(data: bytes, fmt: str) -> tuple[ImportReport, list[Any]] | None:
    """read_calls' contract on one file; None when the file was refused as a whole (CSV header only)."""
    report = ImportReport(file="fuzz.csv", format=fmt)
    with hang_guard(20):
        try:
            calls = read_calls(data, fmt=fmt, settings=CALLS, tz=TZ, report=report)
        except CallLogError as exc:
            assert fmt == "csv", f"an Asterisk file is never refused whole: {exc}"
            assert str(exc)
            return None
    lines = data_lines(data)
    rows = lines[1:] if fmt == "csv" else lines
    assert report.rows == len(rows)
    rejected = [r.line for r in report.rejected]
    assert len(set(rejected)) == len(rejected), "a line rejected twice"
    assert set(rejected) <= set(rows), "a rejection names a line that is no data row"
    assert all(r.reason for r in report.rejected)
    kept = {c.line for c in calls}
    assert not kept & set(rejected)
    assert len(calls) + report.duplicates + report.internal + len(report.rejected) == report.rows
    assert len({c.key for c in calls}) == len(calls)
    for call in calls:
        natural_id = f"call:{call.key}"
        assert "\x00" not in natural_id and len(natural_id) <= 998, natural_id[:80]
        assert call.document["start"]
    return report, calls


@pytest.mark.slow  # 300 generated files
@fuzz_settings(300)
@given(st.one_of(asterisk_file, asterisk_mutated))
@example(b"\xef\xbb\xbf" + b"\r\n".join(MASTER_LINES))
@example(
    b'"","29123456","100","x","","a","b","Dial","d","2026-11-24 08:02:11","","2026-11-24 08:05:40",'
    b'\xc2\xb2,0,"NO ANSWER","D","u1",""'
)
@example(
    b'"","29123456","100","x","","a","b","Dial","d","2026-11-24 08:02:11","","2026-11-24 08:05:40",'
    + b"9" * 5000
    + b',0,"BUSY","D","u2",""'
)
@example(b'"","29123456","100","x","","a","b","Dial","d","2026-11-24 08:02:11","","","0","0","BUSY","D","u\x003",""')
@example(b"\x00\n\r\n\xff\xfe\n" + b'"' * 5000)
@example(b"\xff\xfe" + b"\n".join(MASTER_LINES))  # a UTF-16 mark on what is not UTF-16: not refused whole
@example("\n".join(line.decode() for line in MASTER_LINES).encode("utf-16"))
def test_asterisk_files_are_read_without_raising(data: bytes) -> None:
    check_read(data, "asterisk")


@pytest.mark.slow  # generated files
@fuzz_settings(200)
@given(csv_file)
@example(b"id,from,to,start,duration,status\n" + b"a" * 300 + b",29123456,1,2026-11-24 09:14:03,0,missed\n")
@example(b"\xff\n")
@example(b"")
def test_mapped_csv_files_are_read_or_refused_whole(data: bytes) -> None:
    check_read(data, "csv")


# --- regressions from the fuzzing ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value, reason",
    [("\u00b2", "is not a whole number"), ("9" * 5000, "is not a whole number")],
    ids=["superscript-two", "5000-digits"],
)
def test_odd_durations_are_rejected_not_raised(value: str, reason: str) -> None:
    """str.isdigit() said yes and int() raised: the whole import crashed with a ValueError."""
    line = f'"","29123456","100","x","","a","b","Dial","d","2026-11-24 08:02:11","","",{value},0,"BUSY","D","u1",""'
    report = ImportReport(file="f", format="asterisk")
    assert read_calls(line.encode(), fmt="asterisk", settings=CALLS, tz=TZ, report=report) == []
    (rejected,) = report.rejected
    assert rejected.line == 1 and reason in rejected.reason


@pytest.mark.parametrize("uid", ["u\x001", "u" * 990], ids=["nul", "over-the-column"])
def test_unstorable_call_ids_are_rejected(uid: str) -> None:
    """A NUL or a 990-character uniqueid made a natural id PostgreSQL refuses: the import crashed."""
    line = f'"","29123456","100","x","","a","b","Dial","d","2026-11-24 08:02:11","","","0","0","BUSY","D","{uid}",""'
    report = ImportReport(file="f", format="asterisk")
    assert read_calls(line.encode(), fmt="asterisk", settings=CALLS, tz=TZ, report=report) == []
    (rejected,) = report.rejected
    assert rejected.line == 1 and "call id" in rejected.reason


# --- into a real database, twice --------------------------------------------------------------------


class _Quiet(Progress):
    def update(self, done: int, what: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.slow  # Hypothesis against a database
def test_import_into_the_database_is_idempotent(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings()
    engine = make_engine(settings.database_url())
    migrate(engine)
    sessions = session_factory(engine)
    channel = channels_from_settings(settings)["phone"]
    store = ReceiptStore(sessions=sessions, clock=lambda: __import__("datetime").datetime.now(ZoneInfo("UTC")))
    path = tmp_path / "calls.csv"
    imported = Counter[str]()

    def receipts() -> int:
        with Session(engine) as session:
            return int(session.exec(select(func.count()).select_from(Receipt)).one())

    def run_import(fmt: str) -> ImportReport:
        return import_calls(
            path,
            fmt=fmt,
            settings=settings.calls,
            tz=TZ,
            store_batch=lambda items: store.store_batch_sync(channel, source="fuzz", items=items, wake=False),
            progress=_Quiet(0),
        )

    @fuzz_settings(25, deadline=None)
    @given(st.one_of(asterisk_file.map(lambda d: ("asterisk", d)), csv_file.map(lambda d: ("csv", d))))
    def run(case: tuple[str, bytes]) -> None:
        fmt, data = case
        path.write_bytes(data)
        before = receipts()
        try:
            first = run_import(fmt)
        except CallLogError:
            assert fmt == "csv"
            return
        assert first.imported + first.duplicates + first.internal + len(first.rejected) == first.rows
        assert first.answered + first.missed == first.imported
        assert len(first.new_receipt_ids) == first.imported
        assert receipts() == before + first.imported
        again = run_import(fmt)
        assert again.imported == 0 and again.new_receipt_ids == []
        assert again.duplicates == first.imported + first.duplicates
        assert [(r.line, r.reason) for r in again.rejected] == [(r.line, r.reason) for r in first.rejected]
        assert receipts() == before + first.imported
        imported[fmt] += first.imported

    try:
        run()
        assert sum(imported.values()) >= 5, f"hardly anything was imported: {imported}"
    finally:
        engine.dispose()
