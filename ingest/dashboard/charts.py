"""The bar chart of the share answered on time per ISO week, as geometry for an inline SVG.

Drawn on the server: no script, no chart library, nothing to build. The template
only places the rectangles computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.dashboard.figures import Row

WIDTH, HEIGHT = 640, 220
TOP, BOTTOM, LEFT = 10, 40, 40  # room for the labels
GAP = 6


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the ISO week
    value: str  # "75 %" or "—" when no deadline of that week is decided yet
    title: str  # the tooltip: kept / decided
    empty: bool


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    axis_y: float  # the baseline
    left: int
    top: int


def on_time_chart(weeks: Sequence[Row]) -> Chart:
    plot_height = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT) / max(len(weeks), 1)
    bars = []
    for i, week in enumerate(weeks):
        share = week.counts.share_on_time
        height = plot_height * (share or 0.0)
        counts = week.counts
        bars.append(
            Bar(
                x=round(LEFT + i * step + GAP / 2, 1),
                y=round(TOP + plot_height - height, 1),
                width=round(max(step - GAP, 1), 1),
                height=round(height, 1),
                label=week.key.split("-", 1)[1],  # W05: the year is in the title
                value="—" if share is None else f"{share * 100:.0f} %",
                title=f"{week.key}: {counts.answered_on_time} of {counts.decided} on time",
                empty=share is None,
            )
        )
    return Chart(width=WIDTH, height=HEIGHT, bars=bars, axis_y=TOP + plot_height, left=LEFT, top=TOP)
