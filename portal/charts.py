"""Server-side SVG charts: the geometry of a stacked bar chart, drawn by templates/insights/_chart.html.

No JavaScript and no CDN: the portal must draw its charts on an intranet without internet,
and an SVG in the page is a real image the browser (and a screenshot) shows as it is.
Numbers are computed here; the template only places rectangles and text (autoescaped).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from kb.insights import Chart

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#84cc16", "#ec4899", "#64748b")
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 24, 12, 46
MAX_X_LABELS = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str  # the tooltip: label, group and number


@dataclass(frozen=True)
class Tick:
    pos: float
    text: str


@dataclass
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[tuple[str, str]]  # (colour, group name)
    plot: tuple[float, float, float, float]  # left, top, right, bottom of the plotting area
    empty: bool


def nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


PRIORITY_COLORS = {"high": "#ef4444", "medium": "#f59e0b", "low": "#10b981"}


def short_label(label: str) -> str:
    """An axis label: ``2026-11-02`` becomes ``11-02`` (the table and tooltips keep the year)."""
    return label[5:] if len(label) == 10 and label[4] == "-" and label[7] == "-" else label


def stacked_bars(chart: Chart, *, width: int = WIDTH, height: int = HEIGHT, names: dict | None = None,
                 colors: dict | None = None) -> BarChart:
    """Rectangles for ``chart`` (``names`` maps a group key to the label shown, ``colors`` to
    a fixed colour, e.g. red for high priority; the others take the palette in order)."""
    names, colors = names or {}, colors or {}
    left, top, right, bottom = LEFT, TOP, width - RIGHT, height - BOTTOM
    n = max(len(chart.labels), 1)
    top_value = nice_max(max(chart.totals, default=0))
    slot = (right - left) / n
    bar_w = max(slot * 0.72, 1.0)
    scale = (bottom - top) / top_value
    bars: list[Bar] = []
    base = [0] * len(chart.labels)
    color_of = {g: colors.get(g, PALETTE[k % len(PALETTE)]) for k, (g, _) in enumerate(chart.series)}
    for group, values in chart.series:
        color = color_of[group]
        for i, v in enumerate(values):
            if not v:
                continue
            y = bottom - (base[i] + v) * scale
            bars.append(Bar(left + i * slot + (slot - bar_w) / 2, y, bar_w, v * scale, color,
                            f"{chart.labels[i]} · {names.get(group, group)}: {v}"))
            base[i] += v
    y_ticks = [Tick(bottom - t * scale, str(t)) for t in _steps(top_value)]
    every = max(1, math.ceil(n / MAX_X_LABELS))
    x_ticks = [Tick(left + i * slot + slot / 2, short_label(label)) for i, label in enumerate(chart.labels)
               if i % every == 0]
    legend = [(color_of[g], names.get(g, g)) for g, _ in chart.series]
    return BarChart(width, height, bars, y_ticks, x_ticks, legend, (left, top, right, bottom), chart.total == 0)


def _steps(top_value: int) -> list[int]:
    step = max(1, top_value // 4) if top_value >= 4 else 1
    return list(range(0, top_value + 1, step))
