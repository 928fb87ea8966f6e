from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.defaults import page_not_found

from config.middleware import is_api_path


def home(request: HttpRequest) -> HttpResponse:
    # Signed-in people go straight to their agents; others see what Reverie is.
    if request.user.is_authenticated:
        return redirect("agents:list")
    return render(request, "home.html")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A page that does not exist: for the API, the JSON every other error answers with
    (an SDK prints `detail`, not an HTML page); elsewhere Django's page."""
    if is_api_path(request.path):
        return JsonResponse({"detail": f"Not found: {request.method} {request.path}"}, status=404)
    return page_not_found(request, exception)
