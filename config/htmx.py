"""What every app's views share about htmx requests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """What HtmxMiddleware (installed in settings) adds to every request, for the type checker."""

    htmx: HtmxDetails


def wants_partial(request: HttpRequest) -> bool:
    """Whether to answer with the fragment htmx swaps in rather than the whole page. A
    history restore (back button after htmx's cache was evicted) needs the whole page."""
    htmx: HtmxDetails | None = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    """One URL answers with a fragment or a page; caches must keep them apart."""
    patch_vary_headers(response, ["HX-Request"])
    return response
