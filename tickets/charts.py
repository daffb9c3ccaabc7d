"""Server-rendered SVG charts for the dashboard: no JavaScript, readable by screen readers.

Each chart is an <svg role="img"> with a <title> and a <desc> naming the figures; the page
also has the same numbers as a data table (collapsed under the chart), so nothing is available
only as a picture.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
BAR_COLOUR = "#3b5bdb"
AXIS_COLOUR = "#495057"


def _svg(*, chart_id: str, title: str, desc: str, height: int, body: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every interpolated text below is escaped
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}" style="max-width:{WIDTH}px">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>{body}</svg>'
    )


def column_chart(*, chart_id: str, title: str, points: Sequence[tuple[str, float]], unit: str = "") -> SafeString:
    """Vertical bars, one per point (e.g. conversations per day), with the first/last labels."""
    height, top, bottom, left = 220, 16, 28, 44
    peak = max((value for _, value in points), default=0) or 1
    plot_w, plot_h = WIDTH - left - 8, height - top - bottom
    slot = plot_w / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        bar_h = plot_h * value / peak
        x = left + index * slot + slot * 0.1
        y = top + plot_h - bar_h
        bars.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}{}</title></rect>',
                f"{x:.1f}",
                f"{y:.1f}",
                f"{max(slot * 0.8, 1):.1f}",
                f"{bar_h:.1f}",
                BAR_COLOUR,
                label,
                _number(value),
                unit,
            )
        )
    axis = format_html(
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="{c}"/><text x="{l}" y="{t}" font-size="11" fill="{c}" text-anchor="end" dx="-4" dy="4">{peak}</text>'
        '<text x="{l}" y="{b}" font-size="11" fill="{c}" text-anchor="end" dx="-4">0</text>',
        l=left,
        b=top + plot_h,
        r=WIDTH - 8,
        t=top,
        c=AXIS_COLOUR,
        peak=_number(peak),
    )
    labels = ""
    if points:
        labels = format_html(
            '<text x="{}" y="{}" font-size="11" fill="{}">{}</text><text x="{}" y="{}" font-size="11" fill="{}" text-anchor="end">{}</text>',
            left,
            height - 8,
            AXIS_COLOUR,
            points[0][0],
            WIDTH - 8,
            height - 8,
            AXIS_COLOUR,
            points[-1][0],
        )
    total = sum(value for _, value in points)
    desc = (
        f"{len(points)} bars from {points[0][0]} to {points[-1][0]}; total {_number(total)}{unit}, highest {_number(peak)}{unit}."
        if points
        else "No data."
    )
    return _svg(chart_id=chart_id, title=title, desc=desc, height=height, body=axis + "".join(bars) + labels)


def bar_chart(*, chart_id: str, title: str, points: Sequence[tuple[str, float]], unit: str = "") -> SafeString:
    """Horizontal bars with their labels and values (top intents, tools, CSAT scores).

    The label column is as wide as the longest label needs (up to half the chart), so labels
    are never clipped at the chart's left edge; a longer one is shortened with "…" and
    kept whole in its <title>.
    """
    row = 24
    labels = [_fit(label) for label, _ in points]
    label_w = min(max((_text_width(label) for label in labels), default=0) + 12, WIDTH // 2)
    height = max(len(points), 1) * row + 8
    peak = max((value for _, value in points), default=0) or 1
    plot_w = WIDTH - label_w - 70
    parts = []
    for index, ((label, value), shown) in enumerate(zip(points, labels, strict=True)):
        y = 4 + index * row
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="12" fill="{}" text-anchor="end"><title>{}</title>{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
                '<text x="{}" y="{}" font-size="12" fill="{}">{}{}</text>',
                label_w - 6,
                y + 15,
                AXIS_COLOUR,
                label,
                shown,
                label_w,
                y + 3,
                f"{plot_w * value / peak:.1f}",
                row - 8,
                BAR_COLOUR,
                label_w + plot_w * value / peak + 4,
                y + 15,
                AXIS_COLOUR,
                _number(value),
                unit,
            )
        )
    desc = "; ".join(f"{label}: {_number(value)}{unit}" for label, value in points) or "No data."
    return _svg(chart_id=chart_id, title=title, desc=desc, height=height, body="".join(parts))


# Average advance of a 12 px sans-serif glyph; generous, so a label errs towards fitting.
CHAR_WIDTH = 7.2
MAX_LABEL_CHARS = 40


def _text_width(text: str) -> int:
    return int(len(text) * CHAR_WIDTH) + 1


def _fit(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
