"""Small server-side SVG charts (no JavaScript, no CDN). Only numbers reach the markup; labels are escaped."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD = 600, 140, 20


def _frame(title: str, body: str) -> SafeString:
    return mark_safe(  # noqa: S308  # nosec B308 B703: numbers and escaped text only
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + PAD}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" class="chart-axis"/>{body}</svg>'
    )


def outcome_chart(series: list[dict], title: str = "Runs per day: succeeded and failed") -> SafeString:
    if not series:
        return _frame(title, "")
    top = max((day["success"] + day["failed"] for day in series), default=0) or 1
    slot = WIDTH / len(series)
    bar = max(slot - 2, 1)
    parts = []
    for index, day in enumerate(series):
        x = index * slot + 1
        ok_h = HEIGHT * day["success"] / top
        bad_h = HEIGHT * day["failed"] / top
        label = escape(f"{day['day']:%d %b}: {day['success']} succeeded, {day['failed']} failed")
        parts.append(
            f"<g><title>{label}</title>"
            f'<rect class="chart-ok" x="{x:.1f}" y="{HEIGHT - ok_h:.1f}" width="{bar:.1f}" height="{ok_h:.1f}"/>'
            f'<rect class="chart-bad" x="{x:.1f}" y="{HEIGHT - ok_h - bad_h:.1f}" width="{bar:.1f}" '
            f'height="{bad_h:.1f}"/></g>'
        )
    first, last = series[0]["day"], series[-1]["day"]
    parts.append(f'<text x="0" y="{HEIGHT + 15}" class="chart-label">{first:%d %b}</text>')
    parts.append(
        f'<text x="{WIDTH}" y="{HEIGHT + 15}" text-anchor="end" class="chart-label">{last:%d %b} · max {top}/day</text>'
    )
    return _frame(title, "".join(parts))


def duration_chart(series: list[dict], title: str = "Average run duration per day") -> SafeString:
    points = [(i, day["avg"]) for i, day in enumerate(series) if day["avg"] is not None]
    if not points:
        return _frame(title, "")
    top = max(value for _, value in points) or 1
    slot = WIDTH / max(len(series) - 1, 1)
    if len(points) == 1:
        return _frame(title, _single_point(series, points[0], slot))
    coords = " ".join(f"{i * slot:.1f},{HEIGHT - HEIGHT * value / top * 0.95:.1f}" for i, value in points)
    dots = "".join(
        f'<circle class="chart-dot" cx="{i * slot:.1f}" cy="{HEIGHT - HEIGHT * value / top * 0.95:.1f}" r="2.5">'
        f"<title>{series[i]['day']:%d %b}: {value / 60:.1f} min</title></circle>"
        for i, value in points
    )
    label = f'<text x="{WIDTH}" y="{HEIGHT + 15}" text-anchor="end" class="chart-label">max {top / 60:.1f} min</text>'
    return _frame(title, f'<polyline class="chart-line" points="{coords}"/>{dots}{label}')


def _single_point(series: list[dict], point: tuple[int, float], slot: float) -> str:
    """One day with runs: no line to draw, so the value is written beside a larger dot at mid height, on a
    guide line, rather than a lone speck in a corner."""
    index, value = point
    x, y = min(max(index * slot, 6), WIDTH - 6), HEIGHT / 2
    text = escape(f"{series[index]['day']:%d %b}: {value / 60:.1f} min")
    anchor, dx = ("end", -10) if x > WIDTH / 2 else ("start", 10)
    return (
        f'<line class="chart-guide" x1="0" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}"/>'
        f'<circle class="chart-dot" cx="{x:.1f}" cy="{y:.1f}" r="5"><title>{text}</title></circle>'
        f'<text class="chart-value" x="{x + dx:.1f}" y="{y - 8:.1f}" text-anchor="{anchor}">{text}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT + 15}" text-anchor="end" class="chart-label">one day with finished runs</text>'
    )
