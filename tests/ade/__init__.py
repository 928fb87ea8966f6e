"""ADE page tests."""

from __future__ import annotations

# Headers of a request htmx makes.
HTMX = {"HTTP_HX_REQUEST": "true"}
