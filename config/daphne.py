"""Daphne hands every request body to Django untouched.

Daphne serves HTTP through Twisted, whose Request parses each POST with a form body into
`request.args` before the application sees it; daphne never reads those. For an upload
that doubled the memory it takes, and a multipart body Twisted cannot parse was answered
by Twisted itself with an empty 400 and a closed connection: no JSON, no `detail`, nothing
logged. Twisted has a switch for it (`parsePOSTFormSubmission`); daphne does not pass it
on, so it is set here, once, when the ASGI application is loaded (config/asgi.py), and
Django's multipart parser answers for every body, as under any other server.
"""

from __future__ import annotations

from typing import Any


def leave_request_bodies_to_django() -> None:
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # another ASGI server
        return
    if getattr(WebRequest, "_reverie_bodies_untouched", False):
        return
    parent_init = WebRequest.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        parent_init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__  # type: ignore[method-assign]
    WebRequest._reverie_bodies_untouched = True  # type: ignore[attr-defined]
