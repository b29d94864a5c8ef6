"""``ingest report``: the dashboard's figures of a period as one CSV table for the board.

One long table, one row per figure line: ``section`` says what the row is about
(total, employee, channel, topic, kind, week, complaint, suggestion), ``key`` which
one. A complaint or suggestion row is one inquiry by its reference, with 0/1 in the
figure columns; the client's own words stay out of the file (identifiers only).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from ingest.dashboard.figures import Counts, OfficeFigures

COLUMNS = (
    "section", "key", "label", "open", "overdue", "received", "answered", "answered_on_time", "missed", "share_on_time",
)  # fmt: skip


def _cells(counts: Counts) -> list[str | int]:
    return [
        counts.open, counts.overdue, counts.received, counts.answered, counts.answered_on_time, counts.missed,
        counts.share_text,
    ]  # fmt: skip


def report_rows(figures: OfficeFigures) -> Iterator[list[str | int]]:
    yield ["total", figures.period.label, "all", *_cells(figures.total)]
    for section, rows in figures.sections():
        for row in rows:
            yield [section, row.key, row.label, *_cells(row.counts)]
    for row in figures.weeks:
        yield ["week", row.key, row.label, *_cells(row.counts)]
    for item in figures.feedback:
        yield [item.kind, item.reference, item.topic or "", *_cells(item.counts)]


def report_csv(figures: OfficeFigures) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(report_rows(figures))
    return out.getvalue()
