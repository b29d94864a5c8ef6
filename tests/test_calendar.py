"""Due dates on the Latvian working-day calendar, 2025-2027, table-driven.

The office of the example config: Monday-Thursday 08:00-17:00, Friday 08:00-16:00,
one hour shorter before a public holiday, Saturdays worked in exchange 08:00-17:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ingest.config import load_config
from ingest.routing import calendar_from_settings
from tests.support import ROOT

RIGA = ZoneInfo("Europe/Riga")
CAL = calendar_from_settings(load_config(ROOT / "config.example.toml", env={}))


def lv(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=RIGA)


CASES = [
    # received (Riga time), working days, due (Riga time), why
    (lv(2026, 11, 25), 1, lv(2026, 11, 26, 17), "Wednesday, simple: Thursday's close"),
    (lv(2026, 11, 25), 2, lv(2026, 11, 27, 16), "Wednesday, complex: Friday closes at 16:00"),
    (lv(2026, 11, 27), 1, lv(2026, 11, 30, 17), "Friday: over the weekend to Monday"),
    (lv(2026, 11, 27, 16, 30), 1, lv(2026, 12, 1, 17), "Friday after closing counts from Monday"),
    (lv(2026, 11, 28, 11), 1, lv(2026, 12, 1, 17), "Saturday counts from Monday"),
    (lv(2026, 11, 29, 23, 59), 2, lv(2026, 12, 2, 17), "Sunday night, complex"),
    (lv(2026, 11, 26, 16, 59), 1, lv(2026, 11, 27, 16), "16:59: still in working hours"),
    (lv(2026, 11, 26, 17, 1), 1, lv(2026, 11, 30, 17), "17:01: counts from Friday"),
    (lv(2026, 11, 26, 7, 30), 1, lv(2026, 11, 27, 16), "before opening counts from the same day"),
    # 18 November, Proclamation Day; the day before is shortened.
    (lv(2026, 11, 17), 1, lv(2026, 11, 19, 17), "over 18 November 2026"),
    (lv(2026, 11, 17, 16, 30), 1, lv(2026, 11, 20, 16), "17 November closes at 16:00"),
    (lv(2026, 11, 16), 1, lv(2026, 11, 17, 16), "due on the shortened day before 18 November"),
    # 2025: 8 November (Saturday) worked for 17 November (Monday), 18 November a holiday.
    (lv(2025, 11, 7, 15), 1, lv(2025, 11, 8, 17), "the working Saturday 8 November 2025 counts"),
    (lv(2025, 11, 8, 9), 1, lv(2025, 11, 10, 17), "received on the working Saturday"),
    (lv(2025, 11, 14), 1, lv(2025, 11, 19, 17), "17 November 2025 moved off, 18 November a holiday"),
    # Christmas to New Year.
    (lv(2026, 12, 22), 1, lv(2026, 12, 23, 16), "23 December 2026: the day before Christmas Eve"),
    (lv(2026, 12, 23), 1, lv(2026, 12, 28, 17), "24-27 December 2026 not worked"),
    (lv(2026, 12, 23), 2, lv(2026, 12, 29, 17), "complex over Christmas"),
    (lv(2026, 12, 29), 1, lv(2026, 12, 30, 16), "30 December 2026 is shortened before New Year's Eve"),
    (lv(2026, 12, 30), 1, lv(2027, 1, 4, 17), "New Year's Eve and Day, then the weekend"),
    (lv(2026, 12, 30), 2, lv(2027, 1, 5, 17), "complex into 2027"),
    (lv(2025, 12, 30), 1, lv(2026, 1, 5, 17), "2 January 2026 moved off (worked on 17 January)"),
    (lv(2025, 12, 31, 12), 1, lv(2026, 1, 6, 17), "received on a holiday counts from 5 January"),
    (lv(2026, 1, 16), 1, lv(2026, 1, 17, 17), "the working Saturday 17 January 2026"),
    # Midsummer: 23-24 June.
    (lv(2026, 6, 19), 1, lv(2026, 6, 25, 17), "22 June 2026 moved off, 23-24 June holidays"),
    (lv(2026, 6, 25), 2, lv(2026, 6, 27, 17), "the working Saturday 27 June 2026"),
    (lv(2027, 6, 21), 1, lv(2027, 6, 22, 16), "22 June 2027 shortened before Līgo"),
    (lv(2027, 6, 22), 1, lv(2027, 6, 25, 16), "23-24 June 2027 (Wednesday, Thursday), then Friday"),
    # May holidays.
    (lv(2025, 4, 30), 1, lv(2025, 5, 6, 17), "1 May, 2 May moved off, 4 May on Sunday -> 5 May off"),
    (lv(2026, 4, 29), 1, lv(2026, 4, 30, 16), "30 April 2026 shortened before 1 May"),
    # Easter 2027: Good Friday 26 March, Easter Monday 29 March.
    (lv(2027, 3, 24), 1, lv(2027, 3, 25, 16), "25 March 2027 shortened before Good Friday"),
    (lv(2027, 3, 25), 1, lv(2027, 3, 30, 17), "over Easter 2027"),
]


@pytest.mark.parametrize(("received", "days", "due", "why"), CASES, ids=[c[3] for c in CASES])
def test_due_dates(received: datetime, days: int, due: datetime, why: str) -> None:
    got = CAL.due_at(received, days)
    assert got.tzinfo == UTC
    assert got == due, f"{why}: got {got.astimezone(RIGA):%a %d.%m.%Y %H:%M}"


def test_the_night_of_the_spring_daylight_saving_change() -> None:
    # 29 March 2026, 03:00 EET -> 04:00 EEST. 01:30 UTC is 04:30 local, a Sunday.
    received = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    due = CAL.due_at(received, 1)
    assert due == datetime(2026, 3, 31, 14, 0, tzinfo=UTC)  # Tuesday 17:00 EEST
    assert CAL.due_at(lv(2026, 3, 27), 1) == datetime(2026, 3, 30, 14, 0, tzinfo=UTC)


def test_the_night_of_the_autumn_daylight_saving_change() -> None:
    # 25 October 2026, 04:00 EEST -> 03:00 EET: 03:30 local happens twice.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 03:30 EEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 03:30 EET
    assert CAL.due_at(first, 1) == CAL.due_at(second, 1) == datetime(2026, 10, 27, 15, 0, tzinfo=UTC)
    assert CAL.due_at(lv(2026, 10, 23), 1) == datetime(2026, 10, 26, 15, 0, tzinfo=UTC)  # 17:00 EET


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 2), False),  # moved day off
        (date(2026, 1, 17), True),  # Saturday worked instead
        (date(2026, 1, 24), False),  # an ordinary Saturday
        (date(2026, 5, 4), False),
        (date(2026, 11, 18), False),
        (date(2027, 11, 18), False),
        (date(2027, 11, 19), True),
    ],
)
def test_working_days(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_working_time_arithmetic_skips_nights_and_holidays() -> None:
    start, end = lv(2026, 12, 23, 15), lv(2026, 12, 28, 9)
    # 23 Dec 15:00-16:00 (shortened) + 28 Dec 08:00-09:00
    assert CAL.working_time_between(start, end) == timedelta(hours=2)
    assert CAL.add_working_time(start, timedelta(hours=2)) == lv(2026, 12, 28, 9).astimezone(UTC)
    assert CAL.add_working_time(lv(2026, 11, 28), timedelta(hours=1)) == lv(2026, 11, 30, 9).astimezone(UTC)


def test_explanation_lists_the_days_skipped() -> None:
    explained = CAL.explain_due(lv(2026, 12, 23), 1)
    assert explained["working_days"] == 1
    assert [d["date"] for d in explained["skipped"]] == ["2026-12-24", "2026-12-25", "2026-12-26", "2026-12-27"]
    assert explained["skipped"][0]["why"] == "Christmas Eve"
    assert explained["skipped"][3]["why"] == "weekend"
