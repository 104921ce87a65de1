from typing import Any

from django import template

from curator.models.records import payload_text

register = template.Library()


@register.filter
def get_text(payload: Any, field: str = "text") -> str:
    """The display text of a record payload; autoescaped like any other variable."""
    return payload_text(payload, field)


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    return mapping.get(key, "") if isinstance(mapping, dict) else ""
