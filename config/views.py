from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def home(request: HttpRequest) -> HttpResponse:
    # Signed-in people go straight to their agents; others see what Reverie is.
    if request.user.is_authenticated:
        return redirect("agents:list")
    return render(request, "home.html")
