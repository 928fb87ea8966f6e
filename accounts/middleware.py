"""The browser's side of access: each request acts in the organization picked in the
session (by default the user's first), and a viewer's request that would change
something is refused before it reaches a view. The API does the same from its key
(config/api.py); the websocket from the session (config/consumers.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.access import (
    Access,
    NoOrganization,
    bind,
    bound_access,
    default_membership,
    membership_in,
    memberships,
    serving_request,
)

SESSION_KEY = "reverie_organization"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Paths with their own access rules: the API (keys) and Django's admin (staff).
OWN_RULES = ("/v1/", "/admin/")


def any_role(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a view whose changes any member may make (logging out, own API keys)."""
    view.reverie_any_role = True  # type: ignore[attr-defined]
    return view


def session_access(user: Any, session: Any) -> Access:
    wanted = session.get(SESSION_KEY)
    membership = membership_in(user, wanted) if wanted else None
    return bind(user, membership or default_membership(user))


class RequestScopeMiddleware:
    """Marks the time a request is served, so that a service resolving ids for a user who
    is not the request's fails loudly instead of using that user's first organization
    (accounts.access.access_for). Django's admin has rules of its own and is left out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/admin/"):
            return self.get_response(request)
        with serving_request():
            return self.get_response(request)


class AccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if not request.user.is_authenticated or request.path.startswith(OWN_RULES):
            return None
        try:
            access = session_access(request.user, request.session)
        except NoOrganization:
            # Taken out of their last organization while signed in: nothing here is
            # theirs to see until an admin adds them again (signing in afresh gives
            # them one of their own).
            if getattr(view, "reverie_any_role", False):
                return None  # logging out
            return render(request, "accounts/no_organization.html", status=403)
        if request.method in SAFE_METHODS or access.can_edit:
            return None
        if getattr(view, "reverie_any_role", False):
            return None
        context = {"organization": access.organization, "role": access.role}
        return render(request, "accounts/forbidden.html", context, status=403)


def access_context(request: HttpRequest) -> dict[str, Any]:
    """`access` in every template: the organization acted in and the role there; and
    `organizations`, the user's memberships, for the switcher (read only if shown)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith(OWN_RULES):
        return {}
    # The access AccessMiddleware bound; none for a person in no organization.
    access = bound_access(user)
    if access is None:
        return {}
    return {"access": access, "organizations": lambda: memberships(user)}
