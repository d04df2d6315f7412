"""A small bar chart of issued and overridden cards per day, drawn on the server as inline SVG.

No chart library and no JavaScript: the page must render with no network at run time, and a
hundred rectangles are simpler to write than to depend on. Every text is escaped; the chart has a
title and a description for screen readers, and the page repeats the numbers in a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 40
ISSUED_CLASS, OVERRIDDEN_CLASS = "bar-issued", "bar-overridden"


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k at or above `value` (at least 1): a readable top of the axis."""
    power = 1
    while True:
        for multiple in (1, 2, 5):
            if multiple * power >= value:
                return multiple * power
        power *= 10


def render(per_day: Sequence[tuple[date, int, int]], *, chart_id: str = "per-day-chart") -> Markup:
    """`per_day` holds (day, issued, overridden) for each day, oldest first."""
    days = len(per_day)
    peak = max([issued for _, issued, _ in per_day] + [over for _, _, over in per_day] + [1])
    top = _nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(days, 1)
    bar = max(slot * 0.4, 1.0)
    total_issued = sum(i for _, i, _ in per_day)
    total_over = sum(o for _, _, o in per_day)
    first = per_day[0][0].isoformat() if per_day else ""
    last = per_day[-1][0].isoformat() if per_day else ""

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">Cards issued and overridden per day</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(days)} days from {escape(first)} to {escape(last)}: '
        f"{escape(total_issued)} issued, {escape(total_over)} overridden.</desc>",
    ]
    for tick in (0, top // 2, top) if top > 1 else (0, top):
        ty = y(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}</text>')
    for index, (day, issued, overridden) in enumerate(per_day):
        x = LEFT + index * slot + (slot - 2 * bar) / 2
        for offset, value, css, label in (
            (0.0, issued, ISSUED_CLASS, "issued"),
            (bar, overridden, OVERRIDDEN_CLASS, "overridden"),
        ):
            if value:
                parts.append(
                    f'<rect class="{css}" x="{x + offset:.1f}" y="{y(value):.1f}" width="{bar:.1f}" '
                    f'height="{TOP + plot_h - y(value):.1f}"><title>{escape(day.isoformat())}: '
                    f"{escape(value)} {label}</title></rect>"
                )
    label_every = max(1, round(days / 8))
    for index, (day, _, _) in enumerate(per_day):
        if index % label_every == 0 or index == days - 1:
            x = LEFT + index * slot + slot / 2
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{escape(day.strftime('%d %b'))}</text>"
            )
    axis_y = TOP + plot_h
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis_y}" y2="{axis_y}"/>')
    legend_y = HEIGHT - 8
    parts.append(f'<rect class="{ISSUED_CLASS}" x="{LEFT}" y="{legend_y - 10}" width="12" height="12"/>')
    parts.append(f'<text class="legend" x="{LEFT + 18}" y="{legend_y}">issued</text>')
    parts.append(
        f'<rect class="{OVERRIDDEN_CLASS}" x="{LEFT + 90}" y="{legend_y - 10}" width="12" height="12"/>'
    )
    parts.append(f'<text class="legend" x="{LEFT + 108}" y="{legend_y}">overridden</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
