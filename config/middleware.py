"""Request plumbing shared by every route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse


def _strip(request: HttpRequest) -> None:
    path = request.path_info
    if path.startswith("/v1/") and path.endswith("/") and len(path) > len("/v1/"):
        request.path_info = path.rstrip("/")


class StripTrailingSlashMiddleware:
    """Serve `/v1/...` paths with and without a trailing slash, without a redirect.

    The Letta SDKs send collection POSTs with a trailing slash (`POST /v1/agents/`) and
    everything else without; a redirect would turn a POST into a GET in some clients. The
    API's routes are declared without the slash and this strips it before URL resolution.
    It is async-capable so that under daphne it costs no thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        _strip(request)
        if self.is_async:
            return self._acall(request)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return await self.get_response(request)
