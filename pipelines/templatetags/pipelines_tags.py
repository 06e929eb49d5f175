from django import template
from django.utils.html import conditional_escape, format_html

register = template.Library()

MIDDLE_TAIL = 14  # characters kept at the end of a long name: branch names differ at their end as often as not
MIDDLE_MIN = 28  # names up to this long are shown whole

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
    "waiting": "badge-warn",
    "refused": "badge-bad",
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
def middle(value) -> str:
    """A long name (a 255-character branch) cut in the middle: its start and its end show, the whole of it
    on hover (title) and on focus (Tab shows it in place, wrapped), and screen readers read it whole."""
    text = "" if value is None else str(value)
    if len(text) <= MIDDLE_MIN:
        return conditional_escape(text)
    return format_html(
        '<span class="mid" tabindex="0" title="{full}" data-full="{full}">'
        '<span class="mid-short" aria-hidden="true"><span class="mid-head">{head}</span>'
        '<span class="mid-tail">{tail}</span></span><span class="mid-full">{full}</span></span>',
        full=text,
        head=text[:-MIDDLE_TAIL],
        tail=text[-MIDDLE_TAIL:],
    )


TRIGGERS = {
    "push": "push",
    "pull_request": "pull request",
    "pull_request_target": "pull request",
    "merge_request_event": "merge request",
    "external_pull_request_event": "pull request",
    "merge_group": "merge queue",
    "schedule": "schedule",
    "workflow_dispatch": "manual",
    "web": "manual",
    "manual": "manual",
    "api": "API",
    "trigger": "trigger",
    "repository_dispatch": "API",
    "pipeline": "upstream pipeline",
    "parent_pipeline": "parent pipeline",
    "workflow_run": "another workflow",
    "release": "release",
    "tag": "tag",
}


@register.filter
def trigger(event) -> str:
    """What started a run, in words a CI user knows: push, pull request, schedule, manual, …"""
    text = str(event or "")
    return TRIGGERS.get(text, text.replace("_", " "))


@register.filter
def trend_symbol(m) -> str:
    """Which way a DORA figure moved (↑ or ↓) and whether that is better or worse for this metric:
    a change fail rate that went down is better."""
    trend = getattr(m, "trend", None)
    if trend is None:
        return ""
    if trend == "same":
        return "= same"
    arrow = "↑" if m.value > m.previous else "↓"
    return f"{arrow} {trend}"


@register.filter
def elapsed_until(start, end) -> str:
    """The time from ``start`` to ``end`` in words (``2h 05m``), or a dash if either is missing."""
    if start is None or end is None or end < start:
        return "—"
    return duration((end - start).total_seconds())


@register.filter
def metric_basis(m) -> str:
    """What a DORA figure was computed from, in words: the counts behind it."""
    n = m.count
    plural = "" if n == 1 else "s"
    if m.key == "deployment_frequency":
        return f"{n} successful production deployment{plural}"
    if m.key == "change_lead_time":
        return f"median of {n} deployment{plural} with a known commit time"
    if m.key == "change_fail_rate":
        return f"{m.part or 0} of {n} production deployment{plural} failed or caused an incident"
    return f"median of {n} recover{'y' if n == 1 else 'ies'} (failed deployments and incidents)"
