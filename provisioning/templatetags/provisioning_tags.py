import json

from django import template

register = template.Library()


@register.filter
def output_value(value) -> str:
    """A Terraform output as people read it: text as it is, maps and lists as JSON (not Python's repr)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
