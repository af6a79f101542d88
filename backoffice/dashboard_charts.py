"""Server-rendered SVG charts for the dashboard (no JavaScript, no chart library).

Every label goes through ``markupsafe.escape``: a procedure name or a level label can never become
markup. The charts carry a <title> and <desc> for screen readers and each bar a <title> tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

BAR_COLOURS = ("#1f6f43", "#4c9a6a", "#c0392b", "#2c5d8f", "#8e6c1a")
WIDTH = 640


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")  # Vietnamese digit grouping


def bar_chart(items: Sequence[tuple[str, int]], *, title: str, colours: Sequence[str] = BAR_COLOURS) -> Markup:
    """Horizontal bars, one per (label, value), value printed at the end of each bar."""
    row, label_width, gap = 34, 170, 8
    height = max(len(items), 1) * row + 2 * gap
    peak = max((value for _, value in items), default=0) or 1
    span = WIDTH - label_width - 70
    description = "; ".join(f"{label}: {_number(value)}" for label, value in items) or "Không có dữ liệu"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">',  # max-width: backoffice.css (no inline style: CSP)
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
    ]
    for index, (label, value) in enumerate(items):
        y = gap + index * row
        length = round(span * value / peak) if value else 0
        colour = colours[index % len(colours)]
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {_number(value)}</title>'
            f'<text x="{label_width - 8}" y="{y + row / 2 + 5:.0f}" text-anchor="end" font-size="14">'
            f"{escape(label)}</text>"
            f'<rect x="{label_width}" y="{y + 5}" width="{length}" height="{row - 10}" fill="{colour}" rx="3"/>'
            f'<text x="{label_width + length + 6}" y="{y + row / 2 + 5:.0f}" font-size="14">{_number(value)}</text>'
            "</g>"
        )
    if not items:
        parts.append(f'<text x="{WIDTH / 2:.0f}" y="{height / 2 + 5:.0f}" text-anchor="middle">Không có dữ liệu</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def daily_chart(days: Sequence[tuple[date, int]], *, title: str, colour: str = "#2c5d8f") -> Markup:
    """Vertical bars per day with a few date ticks (dd/mm) and the peak value on the axis."""
    height, left, bottom, top = 220, 44, 28, 12
    plot_w, plot_h = WIDTH - left - 10, height - bottom - top
    peak = max((value for _, value in days), default=0)
    scale = peak or 1
    step = plot_w / max(len(days), 1)
    total = sum(value for _, value in days)
    description = f"{len(days)} ngày, tổng {_number(total)}, cao nhất {_number(peak)} trong một ngày"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - 10}" y2="{top + plot_h}" stroke="#777"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="12">{_number(peak)}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="12">0</text>',
    ]
    tick_every = max(1, round(len(days) / 8))
    for index, (day, value) in enumerate(days):
        x = left + index * step
        bar_h = plot_h * value / scale
        parts.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{top + plot_h - bar_h:.1f}" width="{max(step * 0.8, 1):.1f}" '
            f'height="{bar_h:.1f}" fill="{colour}"><title>{day:%d/%m/%Y}: {_number(value)}</title></rect>'
        )
        if index % tick_every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 8}" text-anchor="middle" font-size="11">{day:%d/%m}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
