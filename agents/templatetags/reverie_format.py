"""Numbers as people read them at a glance."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def compact(value: int | float | None) -> str:
    """1234 → "1.2k", 2500000 → "2.5M"; small numbers as they are."""
    if value is None:
        return "0"
    number = float(value)
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(number) >= limit:
            text = f"{number / limit:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return f"{int(number)}" if number == int(number) else f"{number:.1f}"
