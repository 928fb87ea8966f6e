"""Token counts on the evaluation pages, exact and grouped (12,345): they are compared
with estimates and budgets, where 12.3k would hide the difference."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def thousands(value: int | float | None) -> str:
    """12345 → "12,345"; None → "0"."""
    if value is None:
        return "0"
    return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"
