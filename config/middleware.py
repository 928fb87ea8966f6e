"""Request plumbing shared by every route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

API_PREFIX = "/v1/"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_api_path(path: str) -> bool:
    """Whether `path` is the API's (`/v1` itself included), whose answers are JSON."""
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def _strip(request: HttpRequest) -> None:
    path = request.path_info
    if path.startswith(API_PREFIX) and path.endswith("/") and len(path) > len("/v1/"):
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


# Headers of an error answer that still mean something once its body is JSON.
_KEPT_HEADERS = ("Allow", "Retry-After", "x-should-retry", "WWW-Authenticate", "Vary")


def _allowed(response: HttpResponseBase) -> str:
    # django-ninja lists the methods of a path from a set: sorted, they read the same
    # on every request.
    return ", ".join(sorted(m.strip() for m in response.get("Allow", "").split(",") if m.strip()))


def _error_detail(request: HttpRequest, response: HttpResponseBase) -> str:
    status = response.status_code
    if status == 405:
        allowed = _allowed(response)
        return f"Method {request.method} is not allowed on {request.path}; allowed: {allowed}."
    if status == 413:
        return "The request body is larger than this server accepts."
    if status >= 500:
        return "The server failed on this request; the error was logged."
    try:
        return f"{HTTPStatus(status).phrase}."
    except ValueError:
        return f"The request failed with status {status}."


def api_error_as_json(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """`response`, or for an API error that is not JSON the same status as `{"detail": ...}`.

    The API's own errors are JSON already (config/api.py). Some are made elsewhere with
    Django's or django-ninja's bodies: a wrong method (ninja's empty 405), a bad Host
    header, a crash (Django's HTML 400 and 500 pages). An SDK shows `detail`, so those are
    rewritten here, keeping the headers that still apply (`Allow` of a 405).
    """
    if response.status_code < 400 or not is_api_path(request.path):
        return response
    if response.streaming or response.get("Content-Type", "").startswith("application/json"):
        return response
    answer = JsonResponse({"detail": _error_detail(request, response)}, status=response.status_code)
    for name in _KEPT_HEADERS:
        if name in response:
            answer[name] = response[name]
    if "Allow" in response:
        answer["Allow"] = _allowed(response)
    if response.status_code >= 500 and request.method not in SAFE_METHODS:
        # The v1 SDK retries a 5xx, and a repeated write may repeat its effect (a turn).
        answer["x-should-retry"] = "false"
    return answer


class ApiErrorsAsJsonMiddleware:
    """Every `/v1` error answers JSON `{"detail": ...}` (see `api_error_as_json`).

    First in MIDDLEWARE, so it also sees the answers Django makes of errors raised in
    the other middleware (a disallowed Host) and in views (a 500). Async-capable, like
    the one below, so that under daphne it costs no thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        return api_error_as_json(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        return api_error_as_json(request, await self.get_response(request))
