from urllib.parse import urlencode

from django import template

from catalog.descriptors import format_ref
from catalog.models import entity_url

register = template.Library()


@register.filter
def ref_url(ref_key: str) -> str:
    """``group:default/team-a`` -> the entity page's URL (whether or not it exists)."""
    try:
        kind, rest = ref_key.split(":", 1)
        namespace, name = rest.split("/", 1)
    except (ValueError, AttributeError):
        return ""
    return entity_url(kind, namespace, name)


@register.filter
def short_ref(ref_key: str) -> str:
    try:
        return format_ref(ref_key)
    except (ValueError, AttributeError):
        return ref_key or ""


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters replaced (None removes one); page is always reset."""
    request = context["request"]
    params = request.GET.copy()
    params.pop("page", None)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode() if params else "?"


@register.simple_tag(takes_context=True)
def sort_link(context, field: str) -> str:
    current = context["request"].GET.get("ordering", "")
    return query_with(context, ordering=f"-{field}" if current == field else field)


@register.filter
def urlencode_dict(value: dict) -> str:
    return urlencode(value)


@register.filter
def safe_link(url: str) -> str:
    """The URL if it is http(s) or mailto, else "": imported YAML must not smuggle javascript: links."""
    value = (url or "").strip()
    return value if value.lower().startswith(("http://", "https://", "mailto:")) else ""


@register.filter
def source_label(key: str) -> str:
    """How a person reads a source key (see ``catalog.sources``)."""
    from catalog import sources

    return sources.label(key or "")


@register.filter
def source_url(key: str) -> str:
    """The catalog page of a source."""
    from django.urls import reverse

    return f"{reverse('catalog:source')}?{urlencode({'key': key or ''})}"
