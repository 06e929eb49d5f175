from django import template

register = template.Library()

BADGES = {
    "success": "badge-ok",
    "failed": "badge-bad",
    "cancelled": "badge-warn",
    "running": "badge-warn",
    "queued": "",
    "skipped": "",
    "pending": "",
    "elite": "badge-ok",
    "high": "badge-ok",
    "medium": "badge-warn",
    "low": "badge-bad",
    "processed": "badge-ok",
    "ignored": "",
}


@register.filter
def badge(status) -> str:
    return BADGES.get(str(status), "")


@register.filter
def duration(seconds) -> str:
    if seconds is None or seconds == "":
        return "—"
    seconds = int(float(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds / 86400:.1f} days"


@register.filter
def percent(value) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@register.filter
def metric(m) -> str:
    """A DORA metric's value in words."""
    if m.value is None:
        return "no data"
    if m.key == "deployment_frequency":
        per_day = m.value
        if per_day >= 1:
            return f"{per_day:.1f} per day"
        if per_day * 7 >= 1:
            return f"{per_day * 7:.1f} per week"
        return f"{per_day * 30:.1f} per month"
    if m.key == "change_fail_rate":
        return percent(m.value)
    return duration(m.value)


@register.filter
def trend_symbol(trend) -> str:
    return {"better": "▲ better", "worse": "▼ worse", "same": "= same"}.get(trend or "", "")
