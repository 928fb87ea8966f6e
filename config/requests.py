"""The request type API handlers receive."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ApiRequest(HttpRequest):
    """An HttpRequest after django-ninja authenticated it: `auth` is the key's user."""

    auth: Any
