"""Users, organizations and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F
from django.utils import timezone

from accounts.access import access_for, bind, ensure_membership
from accounts.models import ApiKey, Membership, Organization, Role
from config.errors import InvalidRequest, NotFound

KEY_PREFIX = "rev-"
# Writing last_used_at on every request would turn each read into a write; once a minute
# is precise enough for "when was this key last used".
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_api_key(
    user: Any, name: str = "", organization: Organization | None = None
) -> tuple[ApiKey, str]:
    """Create a key for `user` acting in `organization` (by default the one they act in
    now); returns the row and the raw key, which is never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    if organization is None:
        ensure_membership(user)  # a person given a key enters here
        organization = access_for(user).organization
    key = ApiKey.objects.create(
        user=user,
        organization=organization,
        name=name,
        prefix=raw_key[:12],
        key_hash=hash_key(raw_key),
    )
    return key, raw_key


def get_or_create_user(username: str) -> tuple[AbstractBaseUser, bool]:
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        ensure_membership(user)
    return user, created


def authenticate_api_key(raw_key: str) -> AbstractBaseUser | None:
    """The active user owning `raw_key`, bound to the key's organization with their role
    there (`accounts.access`); None for an unknown or revoked key, or one whose user has
    since left the organization."""
    if not raw_key:
        return None
    # Every API request runs this: one query, joined rather than with a subquery and
    # unordered (a key hash is unique), which Django compiles a quarter faster.
    keys = (
        ApiKey.objects.select_related("user", "organization")
        .filter(
            key_hash=hash_key(raw_key),
            revoked_at__isnull=True,
            user__is_active=True,
            organization__memberships__user=F("user"),
        )
        .annotate(role=F("organization__memberships__role"))
        .order_by()[:1]
    )
    key = next(iter(keys), None)
    if key is None:
        return None
    bind(key.user, Membership(user=key.user, organization=key.organization, role=key.role))
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key.user


def bootstrap_admin() -> tuple[str, str, str] | None:
    """On an empty database, create `admin` with a random password and an API key.

    Returns (username, password, api_key) the one time it creates them, else None.
    """
    user_model = get_user_model()
    if user_model.objects.exists():
        return None
    password = secrets.token_urlsafe(12)
    user = user_model.objects.create_superuser(username="admin", password=password)
    organization = Organization.objects.create(name="default")
    Membership.objects.create(user=user, organization=organization, role=Role.ADMIN)
    _, raw_key = create_api_key(user, name="bootstrap", organization=organization)
    return "admin", password, raw_key


# --- Keys and members, as an organization's people manage them -------------------------------


def keys_of(user: Any, organization: Organization) -> list[ApiKey]:
    return list(ApiKey.objects.filter(user=user, organization=organization))


def organization_keys(organization: Organization) -> list[ApiKey]:
    return list(ApiKey.objects.filter(organization=organization).select_related("user"))


def revoke_api_key(actor: Any, key_id: str) -> ApiKey:
    """Revoke a key of the actor's own, or, for an organization admin, any key in it."""

    access = access_for(actor)
    keys = ApiKey.objects.filter(organization=access.organization)
    if not access.is_admin:
        keys = keys.filter(user=actor)
    key = keys.filter(pk=key_id).first()
    if key is None:
        raise NotFound(f"API key '{key_id}' not found")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def members(organization: Organization) -> list[Membership]:
    return list(
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__username")
    )


def add_member(
    organization: Organization, username: str, role: str, password: str = ""
) -> Membership:
    """Add an existing user, or create one with `password`, to `organization`."""

    if role not in Role.values:
        raise InvalidRequest(f"A role is one of {', '.join(Role.values)}.")
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise InvalidRequest(f"There is no user '{username}'; give a password to create one.")
        user = user_model.objects.create_user(username=username, password=password)
    membership, created = Membership.objects.get_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    if not created:
        raise InvalidRequest(f"{username} is already a member ({membership.role}).")
    return membership


def change_role(organization: Organization, membership_id: int, role: str) -> Membership:

    if role not in Role.values:
        raise InvalidRequest(f"A role is one of {', '.join(Role.values)}.")
    membership = _membership(organization, membership_id)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(organization)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def remove_member(organization: Organization, membership_id: int) -> Membership:
    """Take a member out of the organization. Their keys for it stop working (they act
    through the membership); what they created stays with the organization."""
    membership = _membership(organization, membership_id)
    if membership.role == Role.ADMIN:
        _keep_an_admin(organization)
    membership.delete()
    return membership


def _membership(organization: Organization, membership_id: int) -> Membership:

    found = (
        Membership.objects.filter(organization=organization, pk=membership_id)
        .select_related("user")
        .first()
    )
    if found is None:
        raise NotFound("No such member")
    return found


def _keep_an_admin(organization: Organization) -> None:

    admins = Membership.objects.filter(organization=organization, role=Role.ADMIN)
    if admins.count() <= 1:
        raise InvalidRequest(
            "An organization needs at least one admin; make someone else admin first."
        )
