"""A small inline SVG chart of one numerical metric's values across the runs of a test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from ..suite.metrics import JudgeValue, format_value

WIDTH, HEIGHT = 360, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 14, 14, 34
MAX_X_LABELS = 12
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_THRESHOLD = re.compile(
    rf"^\s*(?:==|!=|<=|>=|<|>)\s*{_NUMBER}|^\s*between\s+{_NUMBER}\s+and\s+{_NUMBER}"
)


@dataclass(frozen=True)
class Point:
    run_index: int
    value: JudgeValue
    met: bool


def numeric(value: JudgeValue) -> float | None:
    """The value as a number; None for booleans, categories and n/a."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def thresholds(expectation: str) -> list[float]:
    """The numbers a numerical expectation (`>= 7`, `between 4 and 6`) compares with."""
    found = _THRESHOLD.match(expectation)
    return [float(n) for n in found.groups() if n is not None] if found else []


def _y_range(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low == high:
        return low - 1, high + 1
    return low, high


def _label(value: float) -> str:
    return f"{value:g}"


def chart_svg(
    title: str,
    points: list[Point],
    expectation: str = "",
    value_range: tuple[float, float] | None = None,
) -> str:
    """Values as dots joined by a line (gaps at n/a), met in green and unmet in red, the
    expectation's thresholds dashed; an accessible name lists every value. The y-axis spans
    the metric's bounds when known (7, 8, 9 on a 1 to 10 metric are drawn as close as they
    are), else the values and thresholds."""
    numbers = [numeric(p.value) for p in points]
    known = [n for n in numbers if n is not None]
    if not known:
        return ""
    limits = thresholds(expectation)
    low, high = _y_range(known + limits + list(value_range or ()))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(points) - 1, 1)
    xs = [LEFT + (i * step if len(points) > 1 else plot_w / 2) for i in range(len(points))]

    def y(v: float) -> float:
        return TOP + plot_h - (v - low) / (high - low) * plot_h

    summary = ", ".join(f"run {p.run_index}: {format_value(p.value)}" for p in points)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(f"{title}: {summary}")}">',
        f"<title>{escape(title)}</title>",
    ]
    for value in sorted({low, high, (low + high) / 2}):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">'
            f"{escape(_label(value))}</text>"
        )
    for limit in limits:
        parts.append(
            f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(limit):.1f}" '
            f'y2="{y(limit):.1f}"><title>expected {escape(expectation)}</title></line>'
        )
    every = -(-len(points) // MAX_X_LABELS)
    for i, point in enumerate(points):
        if i % every == 0 or i == len(points) - 1:
            parts.append(
                f'<text class="axis" x="{xs[i]:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{point.run_index}</text>'
            )
    parts.append(
        f'<text class="axis" x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" '
        'text-anchor="middle">run</text>'
    )
    coords = [None if n is None else (xs[i], y(n)) for i, n in enumerate(numbers)]
    parts.extend(_polylines(coords))
    for point, xy in zip(points, coords, strict=True):
        if xy is None:
            continue
        state = "met" if point.met else "unmet"
        parts.append(
            f'<circle class="dot {state}" cx="{xy[0]:.1f}" cy="{xy[1]:.1f}" r="4">'
            f"<title>run {point.run_index}: {escape(format_value(point.value))} ({state})"
            "</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _polylines(coords: list[tuple[float, float] | None]) -> list[str]:
    """One line per stretch of consecutive known values."""
    stretches: list[list[str]] = [[]]
    for xy in coords:
        if xy is None:
            stretches.append([])
        else:
            stretches[-1].append(f"{xy[0]:.1f},{xy[1]:.1f}")
    return [f'<polyline class="trend" points="{" ".join(s)}"/>' for s in stretches if len(s) > 1]
