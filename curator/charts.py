"""Small server-side SVG charts for the round dashboard. No Django, no JavaScript.

Every text that reaches the SVG is escaped; the output is safe to mark_safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 520, 220, 36
COLOURS = ("#2f5bea", "#1b8a4b", "#b7791f", "#c62f2f", "#7b4fc9", "#2a9bb0", "#6b7385")


def _frame(title: str, body: str, legend: Sequence[tuple[str, str]] = ()) -> str:
    keys = "".join(
        f'<rect x="{PAD + i * 110}" y="{HEIGHT - 14}" width="10" height="10" fill="{c}"/>'
        f'<text x="{PAD + i * 110 + 14}" y="{HEIGHT - 5}" font-size="11">{escape(name)}</text>'
        for i, (name, c) in enumerate(legend)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
        f'<text x="{PAD}" y="16" font-size="13" font-weight="600">{escape(title)}</text>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 10}" y2="{HEIGHT - PAD}" '
        f'stroke="#999"/>{body}{keys}</svg>'
    )


def line_chart(
    title: str, points: Sequence[tuple[float, float]], x_label: str, y_label: str
) -> str:
    """One series of (x, y) points, axes from zero (y) and from the smallest x."""
    if not points:
        return _frame(title, f'<text x="{PAD}" y="60" font-size="12">no data yet</text>')
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y1 = max(ys) * 1.1 or 1.0

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            PAD + (x - x0) / (x1 - x0) * (WIDTH - PAD - 20),
            HEIGHT - PAD - y / y1 * (HEIGHT - 2 * PAD - 10),
        )

    path = " ".join(f"{a:.1f},{b:.1f}" for a, b in (at(x, y) for x, y in points))
    dots = "".join(
        f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{COLOURS[0]}"><title>'
        f"{escape(x_label)} {x:g}: {escape(y_label)} {y:.3f}</title></circle>"
        for (x, y), (a, b) in zip(points, (at(x, y) for x, y in points), strict=True)
    )
    axes = (
        f'<text x="{WIDTH - 20}" y="{HEIGHT - PAD + 14}" font-size="11" text-anchor="end">'
        f"{escape(x_label)} ({x0:g} to {x1:g})</text>"
        f'<text x="4" y="{PAD}" font-size="11">{escape(y_label)} (max {max(ys):.3f})</text>'
    )
    body = f'<polyline points="{path}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>'
    return _frame(title, body + dots + axes)


def stacked_bars(
    title: str, categories: Sequence[str], series: dict[str, Sequence[float]], unit: str = ""
) -> str:
    """One bar per category, stacked by series (e.g. labels by source, per round)."""
    if not categories:
        return _frame(title, f'<text x="{PAD}" y="60" font-size="12">no data yet</text>')
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    top = max(totals) or 1.0
    step = (WIDTH - PAD - 20) / len(categories)
    bars = []
    for i, category in enumerate(categories):
        base: float = HEIGHT - PAD
        for colour, (name, values) in zip(COLOURS, series.items(), strict=False):
            height = values[i] / top * (HEIGHT - 2 * PAD - 10)
            base -= height
            bars.append(
                f'<rect x="{PAD + i * step + 4:.1f}" y="{base:.1f}" width="{step - 8:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{escape(category)}: '
                f"{escape(name)} {values[i]:g}{escape(unit)}</title></rect>"
            )
        bars.append(
            f'<text x="{PAD + i * step + step / 2:.1f}" y="{HEIGHT - PAD + 13}" font-size="11" '
            f'text-anchor="middle">{escape(category)}</text>'
        )
    legend = list(zip(series, COLOURS, strict=False))
    return _frame(title, "".join(bars), legend)
