"""Cursor pagination over (created_at, id), the order every Letta list uses, and over
lists made in Python, in the same terms."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from config.errors import NotFound

M = TypeVar("M", bound=Model)


def cursor_page(
    queryset: QuerySet[M],
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = None,
    ascending: bool = True,
) -> QuerySet[M]:
    """Rows strictly after / before the rows with those ids in the list's own order
    (newest first when not `ascending`), ordered, at most `limit`.

    The v1 SDK pages by sending the last id it saw as `after` until a page comes back
    empty, so `after` must be honoured exactly or the client never stops. A page taken
    `before` a cursor is the one right before it, not the start of the list.
    """
    later, earlier = ("gt", "lt") if ascending else ("lt", "gt")
    for cursor_id, op in ((after, later), (before, earlier)):
        if not cursor_id:
            continue
        anchor: Any = (
            queryset.model._default_manager.filter(pk=cursor_id).values("created_at", "pk").first()
        )
        if anchor is None:
            raise NotFound(f"No item with id '{cursor_id}' to page from")
        queryset = queryset.filter(
            Q(**{f"created_at__{op}": anchor["created_at"]})
            | Q(created_at=anchor["created_at"], **{f"pk__{op}": anchor["pk"]})
        )
    order = ("created_at", "pk") if ascending else ("-created_at", "-pk")
    if before and not after and limit:
        reverse = ("-created_at", "-pk") if ascending else ("created_at", "pk")
        window = list(queryset.order_by(*reverse).values_list("pk", flat=True)[:limit])
        return queryset.filter(pk__in=window).order_by(*order)
    queryset = queryset.order_by(*order)
    return queryset[:limit] if limit else queryset


T = TypeVar("T")


def list_page(
    items: Sequence[T],
    key: Callable[[T], str],
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = None,
    ascending: bool = True,
) -> list[T]:
    """`cursor_page` over a list made in Python (tools, an agent's blocks in their order):
    `items` in their ascending order, `key` the id a cursor names."""
    ordered = list(items) if ascending else list(reversed(items))
    ids = [key(item) for item in ordered]
    start, end = 0, len(ordered)
    for cursor_id in (after, before):
        if cursor_id and cursor_id not in ids:
            raise NotFound(f"No item with id '{cursor_id}' to page from")
    if after:
        start = ids.index(after) + 1
    if before:
        end = ids.index(before)
    window = ordered[start:end]
    if not limit:
        return window
    # A page taken `before` a cursor is the one right before it.
    return window[-limit:] if before and not after else window[:limit]


def is_ascending(order: str | None, ascending: bool | None, *, default: bool = True) -> bool:
    """A list's direction from `order` ("asc"/"desc", the 1.x SDK) or else the older
    `ascending` flag (0.1.x), else `default`."""
    if order:
        return order == "asc"
    return default if ascending is None else ascending
