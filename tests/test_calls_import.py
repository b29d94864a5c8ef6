"""``ingest import-calls`` against the clock and the world's encodings (issues 16 and 18).

- A call that starts in the future (beyond the staff API's clock skew) is rejected with its line.
- The file's encoding is detected (UTF-8, UTF-8 with a BOM, UTF-16, windows-1257) or given.
- A missed call older than ``[calls] callback_window`` (one working day on the Latvian calendar)
  at the import is stored and counted but opens no call-back inquiry and sends nothing.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine

from channels.calls import LATE_CALL, CallbackWindow, CallChannel, call_document, encode
from ingest.config import CallsSettings, ConfigError, load_config
from ingest.intake.call_log import CallLogError, ImportReport, read_calls
from ingest.intake.file_encoding import detect_encoding
from router.calendar import WorkingCalendar
from storage.models import Inquiry, Outbox, Receipt
from tests.test_calls import import_calls, rows, write_config

RIGA = ZoneInfo("Europe/Riga")
CALLS = CallsSettings()
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=RIGA)  # a Monday


def cdr(when: str, *, src: str = "29123456", uid: str = "u1", disposition: str = "NO ANSWER", name: str = "") -> str:
    """One Asterisk Master.csv line."""
    clid = f'"""{name}"" <{src}>"' if name else f'"{src}"'
    return (f'"","{src}","100","from-pstn",{clid},"PJSIP/t-1","PJSIP/100-1","Dial","PJSIP/100,30",'
            f'"{when}","","{when}",30,0,"{disposition}","DOCUMENTATION","{uid}",""')  # fmt: skip


def read(data: bytes, fmt: str = "asterisk", **kwargs: Any) -> tuple[ImportReport, list[Any]]:
    report = ImportReport(file="f.csv", format=fmt)
    calls = read_calls(data, fmt=fmt, settings=CALLS, tz=RIGA, report=report, now=NOW, **kwargs)
    return report, calls


# --- the future ---------------------------------------------------------------------------------


def test_a_call_in_the_future_is_rejected_with_its_line_number() -> None:
    data = "\n".join([
        cdr("2026-11-30 09:58:00", uid="past"),
        cdr("2099-01-01 10:00:00", uid="2099"),
        cdr("2026-11-30 10:04:00", uid="skew"),  # 4 minutes ahead: clocks differ, taken
        "",
        cdr("2026-11-30 10:06:00", uid="ahead"),  # 6 minutes ahead: not yet happened
    ]).encode()  # fmt: skip
    report, calls = read(data)
    assert [c.document["call_id"] for c in calls] == ["past", "skew"]
    assert [r.line for r in report.rejected] == [2, 5]
    assert report.rejected[0].reason.startswith("start 2099-01-01 10:00:00 is in the future")
    assert "2026-11-30 10:05" in report.rejected[1].reason  # the latest time taken, in the office's zone
    # The allowance is the caller's (ingest import-calls passes [interactions] future_skew_minutes).
    report, calls = read(data, future_skew=timedelta(minutes=10))
    assert [r.line for r in report.rejected] == [2]


# --- encodings ----------------------------------------------------------------------------------

EXPORT = (
    "Zvana ID;Zvanītājs;Vārds;Sākums;Statuss\n"
    "z-1;29123456;Jānis Bērziņš;24.11.2026 09:10;Neatbildēts\n"
    "z-2;26543210;Ļena Šņore;24.11.2026 09:30;Atbildēts\n"
)


def mapped() -> CallsSettings:
    return CallsSettings(
        csv_columns={"call_id": "Zvana ID", "from": "Zvanītājs", "caller_name": "Vārds", "start": "Sākums",
                     "status": "Statuss"},
        csv_delimiter=";",
        csv_date_format="%d.%m.%Y %H:%M",
    )  # fmt: skip


def read_export(data: bytes, encoding: str | None = None) -> tuple[ImportReport, list[Any]]:
    report = ImportReport(file="zvani.csv", format="csv")
    calls = read_calls(data, fmt="csv", settings=mapped(), tz=RIGA, report=report, now=NOW, encoding=encoding)
    return report, calls


@pytest.mark.parametrize(
    ("encode_as", "detected"),
    [("cp1257", "windows-1257"), ("utf-8-sig", "UTF-8 with BOM"), ("utf-8", "UTF-8"), ("utf-16", "UTF-16")],
)
def test_the_encoding_is_detected(encode_as: str, detected: str) -> None:
    """The header's "Zvanītājs" is found and the names read right, whatever wrote the file."""
    data = EXPORT.encode(encode_as)
    assert detect_encoding(data) == detected
    report, calls = read_export(data)
    assert report.rejected == [] and report.encoding == detected and report.encoding_detected
    assert [c.document["caller_name"] for c in calls] == ["Jānis Bērziņš", "Ļena Šņore"]
    assert [c.document["answered"] for c in calls] == [False, True]


def test_an_asterisk_log_in_windows_1257() -> None:
    text = [cdr("2026-11-24 09:14:03", name="Jānis Bērziņš", uid="a"),
            cdr("2026-11-24 09:20:00", name="Ēriks Ķuzis", uid="b", src="26543210")]  # fmt: skip
    data = "\r\n".join(text).encode("cp1257")
    report, calls = read(data)
    assert report.encoding == "windows-1257" and report.rejected == []
    assert [c.document["caller_name"] for c in calls] == ["Jānis Bērziņš", "Ēriks Ķuzis"]


def test_a_given_encoding_wins_and_what_does_not_fit_it_is_rejected_by_line() -> None:
    data = EXPORT.encode("cp1257")
    report, calls = read_export(data, encoding="windows-1257")
    assert not report.encoding_detected and len(calls) == 2
    # Told UTF-8: the header is not UTF-8, the file cannot be mapped (exit code 2 in the CLI).
    with pytest.raises(CallLogError, match="line 1: the header line is not utf-8 text"):
        read_export(data, encoding="utf-8")
    # Asterisk lines have no header: each line that is not UTF-8 is rejected on its own.
    lines = cdr("2026-11-24 09:14:03", uid="a") + "\n" + cdr("2026-11-24 09:15:00", name="Jānis", uid="b") + "\n"
    report, calls = read(lines.encode("cp1257"), encoding="utf-8")
    assert [c.document["call_id"] for c in calls] == ["a"]
    assert [r.line for r in report.rejected] == [2] and "not utf-8 text (byte" in report.rejected[0].reason


def test_one_broken_line_does_not_turn_a_utf8_file_into_windows_1257() -> None:
    """Were the whole file read as windows-1257, every "ā" in it would become "Ä\x81"."""
    good = [cdr(f"2026-11-24 09:{m:02d}:00", name="Jānis Bērziņš", uid=f"u{m}") for m in range(3)]
    data = ("\n".join(good) + "\n").encode() + cdr("2026-11-24 10:00:00", uid="bad", name="J\udce2nis").encode(
        "utf-8", "surrogateescape"
    )
    assert detect_encoding(data) == "UTF-8"
    report, calls = read(data)
    assert [c.document["caller_name"] for c in calls] == ["Jānis Bērziņš"] * 3
    assert [(r.line, r.reason.split(" (")[0]) for r in report.rejected] == [(4, "not UTF-8 text")]


# --- the call-back window -----------------------------------------------------------------------


def missed(start: datetime, call_id: str = "c1") -> bytes:
    return encode(call_document(source="asterisk", call_id=call_id, from_raw="29123456", to_raw="67000100",
                                start=start, answered=False, duration=0, disposition="NO ANSWER"))  # fmt: skip


def test_the_window_is_one_working_day_on_the_latvian_calendar() -> None:
    """A missed call on Tuesday 17 November 2026 (the day before the Proclamation Day holiday) is
    due on Thursday the 19th at 17:00: its window closes then, not 24 hours later."""
    channel = CallChannel(callback_window=CallbackWindow(calendar=WorkingCalendar(tz=RIGA)))
    call = missed(datetime(2026, 11, 17, 12, 0, tzinfo=RIGA))

    def kind(imported: datetime | None) -> str | None:
        meta = {"imported_at": imported.isoformat()} if imported else {}
        return channel.normalise(call, meta).automatic

    assert kind(datetime(2026, 11, 18, 20, 0, tzinfo=RIGA)) is None  # the holiday: still a call back
    assert kind(datetime(2026, 11, 19, 16, 59, tzinfo=RIGA)) is None
    message = channel.normalise(call, {"imported_at": "2026-11-19T17:01:00+02:00"})
    assert message.automatic == LATE_CALL and "call-back window" in (message.automatic_why or "")
    assert kind(None) is None  # not imported (a Twilio callback, as it happens): no window
    assert kind(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=3000)) == LATE_CALL  # years later
    assert CallChannel().normalise(call, {"imported_at": "2030-01-01T00:00:00+00:00"}).automatic is None  # off
    hours = CallbackWindow(calendar=WorkingCalendar(tz=RIGA), amount=4, unit="hours")
    assert hours.closes_at(datetime(2026, 11, 17, 14, 0, tzinfo=RIGA)) == datetime(2026, 11, 19, 10, 0, tzinfo=RIGA)


def test_the_window_setting(tmp_path: Path) -> None:
    assert CallsSettings().callback_window_span() == (1, "days")
    assert CallsSettings(callback_window="3 Working Hours").callback_window_span() == (3, "hours")
    assert CallsSettings(callback_window="off").callback_window_span() is None
    config = write_config(tmp_path)
    two = load_config(config, env={"INGEST__CALLS__CALLBACK_WINDOW": "2 working days"})
    assert two.calls.callback_window_span() == (2, "days")
    for bad in ("1 day", "0 working days", "31 working days", "soon"):
        with pytest.raises(ConfigError, match="callback_window"):
            load_config(config, env={"INGEST__CALLS__CALLBACK_WINDOW": bad})


# --- through the command ------------------------------------------------------------------------


@pytest.mark.slow  # a real `ingest` process
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_command_with_a_windows_1257_file_and_a_future_row(tmp_path: Path, database_url: str) -> None:
    now = datetime.now(RIGA).replace(microsecond=0)
    lines = [
        cdr(f"{now - timedelta(minutes=5):%Y-%m-%d %H:%M:%S}", name="Jānis Bērziņš", uid="recent"),
        cdr(f"{now + timedelta(days=365 * 73):%Y-%m-%d %H:%M:%S}", name="Ēriks", uid="future", src="26543210"),
    ]
    log = tmp_path / "Master.csv"
    log.write_bytes("\r\n".join(lines).encode("cp1257"))
    run = import_calls(tmp_path, database_url, log)
    assert run.returncode == 1, run.stderr
    assert "encoding:   windows-1257 (detected)" in run.stdout
    assert "imported:   1 (missed 1, answered 0)" in run.stdout and "late:" not in run.stdout
    assert "line 2: start 2099-" in run.stdout and "is in the future" in run.stdout
    assert "call-back inquiries opened: 1" in run.stdout
    assert "processed 1/1" in run.stderr
    engine = create_engine(database_url)
    try:
        (receipt,) = rows(engine, Receipt)
        assert json.loads(receipt.raw)["caller_name"] == "Jānis Bērziņš"
    finally:
        engine.dispose()
    refused = import_calls(tmp_path, database_url, log, "--encoding", "klingon")
    assert refused.returncode == 2 and "unknown encoding 'klingon'" in refused.stderr


def history(path: Path, *, rows_total: int, recent_missed: int, now: datetime) -> None:
    """A Master.csv of ``rows_total`` calls: all but the last 2 % from 8 to 38 days ago (outside
    any one-working-day window, even around Christmas), the rest within the last hour, of which
    ``recent_missed`` missed from as many numbers; a quarter of the old ones missed."""
    rng = random.Random(16)
    old, recent = rows_total - rows_total // 50, rows_total // 50
    out = []
    for i in range(old):
        when = now - timedelta(days=38) + timedelta(seconds=i * 30 * 86400 // old)
        out.append(cdr(f"{when:%Y-%m-%d %H:%M:%S}", src=f"2{rng.randrange(10_000_000):07d}", uid=f"old.{i}",
                       disposition="NO ANSWER" if rng.random() < 0.25 else "ANSWERED"))  # fmt: skip
    for i in range(recent):
        when = now - timedelta(minutes=59) + timedelta(seconds=i * 3000 // recent)
        out.append(cdr(f"{when:%Y-%m-%d %H:%M:%S}", src=f"2{6000000 + i:07d}", uid=f"new.{i}",
                       disposition="NO ANSWER" if i < recent_missed else "ANSWERED"))  # fmt: skip
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


@pytest.mark.slow  # 50,000 calls stored and processed (minutes on a busy machine)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fifty_thousand_calls_open_only_the_call_backs_inside_the_window(tmp_path: Path, database_url: str) -> None:
    now = datetime.now(RIGA).replace(microsecond=0)
    log = tmp_path / "Master.csv"
    history(log, rows_total=50_000, recent_missed=40, now=now)
    run = import_calls(tmp_path, database_url, log, timeout=1800)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert "50000 rows" in out and "imported:   50000" in out
    assert "call-back inquiries opened: 40" in out, out
    late = int(out.split("late:")[1].split()[0])
    assert 11_000 < late < 13_500  # a quarter of the 49,000 old ones
    assert "processed 50000/50000 (100%)" in run.stderr and "processed 5000/50000 (10%)" in run.stderr
    engine = create_engine(database_url)
    try:
        inquiries = rows(engine, Inquiry)
        assert len(inquiries) == 40
        assert all(i.received_at > now - timedelta(hours=1) for i in inquiries)
        ids = {i.id for i in inquiries}
        assert {o.inquiry_id for o in rows(engine, Outbox)} <= ids  # nothing sent about the old calls
        receipts = rows(engine, Receipt)
        assert len(receipts) == 50_000 and all(r.status == "processed" for r in receipts)
        kinds = [r.meta.get("outcome", {}).get("automatic") for r in receipts]
        assert kinds.count(LATE_CALL) == late
    finally:
        engine.dispose()
