"""Paging a list endpoint to its end the way the 1.x SDKs do, to compare with the whole list.

The SDK's pager sends the id of a page's last item as `after` (or, paging backwards from
a `before`, the first item's id as `before`) until a page comes back empty. Items may
share an id: a stored message split into several Letta messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.test import Client

Get = Callable[[dict[str, Any]], list[Any]]


def getter(client: Client, path: str) -> Get:
    """A function from query parameters to the JSON list `path` answers, checking the 200."""

    def get(params: dict[str, Any]) -> list[Any]:
        response = client.get(path, {k: v for k, v in params.items() if v is not None})
        assert response.status_code == 200, (path, params, response.content[:500])
        body = response.json()
        assert isinstance(body, list), (path, params, body)
        return body

    return get


def item_id(item: Any) -> Any:
    return item if isinstance(item, str) else item["id"]


@dataclass(frozen=True)
class Cursors:
    """The names of the cursors that lead forwards and backwards through a list."""

    forward: str = "after"
    backward: str = "before"


def walk(
    get: Get,
    params: dict[str, Any],
    *,
    limit: int,
    cursor: str,
    start: Any = None,
    backwards: bool = False,
    key: Callable[[Any], Any] = item_id,
) -> list[Any]:
    """Every item from `start` on, page by page as the SDK asks for them, in list order.

    Checks each page on the way: never longer than `limit` unless it is one stored
    message (all its items share an id), and never repeating the previous page's cursor.
    """
    pages: list[list[Any]] = []
    position = start
    while True:
        page = get({**params, "limit": limit, cursor: position})
        if not page:
            break
        ids = {key(item) for item in page}
        assert len(page) <= limit or len(ids) == 1, (limit, [key(item) for item in page])
        assert position not in ids, f"the page {cursor} {position!r} holds {position!r} again"
        pages.append(page)
        position = key(page[0] if backwards else page[-1])
        assert len(pages) <= 10_000, "the pager does not stop"
    if backwards:
        pages.reverse()
    return [item for page in pages for item in page]


def assert_pages_to_the_end(
    get: Get,
    params: dict[str, Any],
    *,
    limit: int,
    pick: int,
    cursors: Cursors = Cursors(),
    full_limit: int = 1000,
    key: Callable[[Any], Any] = item_id,
) -> list[Any]:
    """Page the list of `params` with `limit` forwards from its start, backwards from its
    end, and both ways from the item `pick` (modulo its length); each walk must give
    exactly the part of the whole list it covers. Returns the whole list."""
    whole = get({**params, "limit": full_limit})
    assert len(whole) < full_limit, "the whole list must fit in one page to compare"
    ids = [key(item) for item in whole]

    def after(position: Any) -> list[Any]:
        last = max(index for index, found in enumerate(ids) if found == position)
        return whole[last + 1 :]

    def before(position: Any) -> list[Any]:
        return whole[: ids.index(position)]

    forward = {"cursor": cursors.forward, "limit": limit, "key": key}
    backward = {"cursor": cursors.backward, "limit": limit, "key": key, "backwards": True}
    assert walk(get, params, **forward) == whole
    if not whole:
        return whole
    chosen = ids[pick % len(ids)]
    assert walk(get, params, start=chosen, **forward) == after(chosen)
    assert walk(get, params, start=chosen, **backward) == before(chosen)
    assert walk(get, params, start=ids[-1], **backward) == before(ids[-1])
    return whole
