"""Who may do what: a user acts in one organization at a time, with their role there.

The organization comes from the API key (a key belongs to one) or, in the browser, from
the organization picked in the session. The request's `Access` is bound to the user
object (`bind`), so the services, which take a user, find it with `access_for(user)`;
a user without a bound access (a test, a command) acts in their first organization.

Reading access never writes. A person who belongs to no organization gets one of their
own where they enter: when the user is created by Reverie, when they sign in, when a key
is made for them (`ensure_membership`); access_for refuses one who has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.models import Membership, Organization, Role

_ATTRIBUTE = "_reverie_access"
# Set while a request is served (accounts.middleware.RequestScopeMiddleware): then every
# user a service resolves ids for must carry the request's access.
_serving_request: ContextVar[bool] = ContextVar("reverie_serving_request", default=False)


class UnboundAccess(RuntimeError):
    """A service asked for the access of a user who is not the request's: a programming
    error that would have acted in that user's first organization."""


@contextmanager
def serving_request() -> Iterator[None]:
    token = _serving_request.set(True)
    try:
        yield
    finally:
        _serving_request.reset(token)


@dataclass(frozen=True)
class Access:
    user: Any
    organization: Organization
    role: str

    @property
    def can_edit(self) -> bool:
        return self.role in (Role.EDITOR, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class NoOrganization(RuntimeError):
    """The user belongs to no organization (ensure_membership gives them one)."""


def ensure_membership(user: Any) -> Membership:
    """The user's first membership; for one who has none, an organization of their own,
    with them as its admin. A write: called where a person enters, never to read."""
    with transaction.atomic():
        first = Membership.objects.filter(user=user).select_related("organization").first()
        if first is not None:
            return first
        organization = Organization.objects.create(name=user.get_username())
        return Membership.objects.create(user=user, organization=organization, role=Role.ADMIN)


def memberships(user: Any) -> list[Membership]:
    return list(Membership.objects.filter(user=user).select_related("organization"))


def membership_in(user: Any, organization_id: str) -> Membership | None:
    return (
        Membership.objects.filter(user=user, organization_id=organization_id)
        .select_related("organization")
        .first()
    )


def default_membership(user: Any) -> Membership:
    first = Membership.objects.filter(user=user).select_related("organization").first()
    if first is None:
        raise NoOrganization(
            f"User {user.get_username()!r} belongs to no organization; an admin adds them "
            "to one (manage.py organizations), or they get their own when they sign in."
        )
    return first


def bind(user: Any, membership: Membership) -> Access:
    access = Access(user=user, organization=membership.organization, role=membership.role)
    setattr(user, _ATTRIBUTE, access)
    return access


def bound_access(user: Any) -> Access | None:
    """The access bound to `user` for this request, if any (no fallback, no query)."""
    return getattr(user, _ATTRIBUTE, None)


def access_for(user: Any) -> Access:
    """The access bound to `user` for this request, else their first organization's.

    While a request is served, an unbound user is refused: it was loaded from a stored
    object (an agent's owner, say) rather than being the request's own, and falling back
    to its first organization would resolve ids with somebody else's access.
    """
    if isinstance(user, Access):
        return user
    bound = getattr(user, _ATTRIBUTE, None)
    if bound is not None:
        return bound
    if _serving_request.get():
        raise UnboundAccess(
            f"Access asked for user {user.pk} inside a request, through a user object that "
            "is not the request's (loaded from a stored object?). Pass the request's user: "
            "ids are resolved with the caller's access."
        )
    return bind(user, default_membership(user))


def organization_of(user: Any) -> Organization:
    return access_for(user).organization
