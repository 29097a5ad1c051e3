"""Server-side SVG charts: the geometry of a stacked bar chart, drawn by templates/insights/_chart.html.

No JavaScript and no CDN: the portal must draw its charts on an intranet without internet,
and an SVG in the page is a real image the browser (and a screenshot) shows as it is.
Numbers are computed here; the template only places rectangles and text (autoescaped).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Mark:
    """A horizontal line across one slot: a target (drawn dashed)."""

    x1: float
    x2: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    """One series as a polyline (split where a value is missing) with a dot per value."""

    segments: list[str]   # SVG "x,y x,y ..." point lists
    dots: list[tuple[float, float, str]]  # x, y, tooltip
    color: str


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
    marks: list[Mark] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    empty_text: str = ""


def nice_max(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


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


def minutes_text(value: float) -> str:
    """Business minutes as people read them: ``45 min``, ``3.5 h``."""
    return f"{value:.0f} min" if value < 60 else f"{value / 60:.1f} h".replace(".0 h", " h")


def grouped_bars(labels: list[str], series: list[tuple[str, list[float | None]]], *, targets=None,
                 names: dict | None = None, colors: dict | None = None, fmt=str, target_name: str = "target",
                 width: int = WIDTH, height: int = HEIGHT) -> BarChart:
    """Bars side by side per label (e.g. median and 90th percentile per priority) and, with
    ``targets`` (one value or None per label), a dashed target line across the label's slot.
    ``fmt`` writes a value for the axis and the tooltips."""
    names, colors = names or {}, colors or {}
    targets = targets or [None] * len(labels)
    left, top, right, bottom = LEFT + 16, TOP, width - RIGHT, height - BOTTOM
    n = max(len(labels), 1)
    values = [v for _, vs in series for v in vs if v is not None] + [t for t in targets if t is not None]
    top_value = nice_max(max(values, default=0))
    scale = (bottom - top) / top_value
    slot = (right - left) / n
    k = max(len(series), 1)
    bar_w = slot * 0.72 / k
    color_of = {g: colors.get(g, PALETTE[i % len(PALETTE)]) for i, (g, _) in enumerate(series)}
    bars, marks = [], []
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.14
        for j, (group, vs) in enumerate(series):
            v = vs[i]
            if v is None:
                continue
            bars.append(Bar(x0 + j * bar_w, bottom - v * scale, bar_w * 0.92, v * scale, color_of[group],
                            f"{label} · {names.get(group, group)}: {fmt(v)}"))
        if targets[i] is not None:
            marks.append(Mark(left + i * slot + slot * 0.06, left + (i + 1) * slot - slot * 0.06,
                              bottom - targets[i] * scale, f"{label} · {target_name}: {fmt(targets[i])}"))
    y_ticks = [Tick(bottom - t * scale, fmt(t)) for t in _steps(top_value)]
    x_ticks = [Tick(left + i * slot + slot / 2, label) for i, label in enumerate(labels)]
    legend = [(color_of[g], names.get(g, g)) for g, _ in series]
    return BarChart(width, height, bars, y_ticks, x_ticks, legend, (left, top, right, bottom), not values,
                    marks=marks)


def line_chart(labels: list[str], series: list[tuple[str, list[float | None]]], *, y_max: float,
               y_min: float = 0, names: dict | None = None, colors: dict | None = None,
               width: int = WIDTH, height: int = HEIGHT) -> BarChart:
    """Lines over time on a fixed scale (e.g. ratings 1–5); a missing value breaks the line."""
    names, colors = names or {}, colors or {}
    left, top, right, bottom = LEFT, TOP, width - RIGHT, height - BOTTOM
    n = max(len(labels), 1)
    slot = (right - left) / n
    scale = (bottom - top) / (y_max - y_min)
    lines, empty = [], True
    for k, (group, vs) in enumerate(series):
        color = colors.get(group, PALETTE[k % len(PALETTE)])
        segments, current, dots = [], [], []
        for i, v in enumerate(vs):
            if v is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            empty = False
            x, y = left + i * slot + slot / 2, bottom - (v - y_min) * scale
            current.append(f"{x:.1f},{y:.1f}")
            dots.append((x, y, f"{labels[i]} · {names.get(group, group)}: {v:.2f}"))
        if current:
            segments.append(" ".join(current))
        lines.append(Line(segments, dots, color))
    y_ticks = [Tick(bottom - (t - y_min) * scale, str(t)) for t in range(int(y_min), int(y_max) + 1)]
    every = max(1, math.ceil(n / MAX_X_LABELS))
    x_ticks = [Tick(left + i * slot + slot / 2, short_label(label)) for i, label in enumerate(labels) if i % every == 0]
    legend = [(line.color, names.get(g, g)) for line, (g, _) in zip(lines, series)]
    return BarChart(width, height, [], y_ticks, x_ticks, legend, (left, top, right, bottom), empty, lines=lines)
