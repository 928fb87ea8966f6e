"""Users and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from accounts.models import ApiKey

KEY_PREFIX = "rev-"
# Writing last_used_at on every request would turn each read into a write; once a minute
# is precise enough for "when was this key last used".
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_api_key(user: Any, name: str = "") -> tuple[ApiKey, str]:
    """Create a key for `user`; returns the row and the raw key, which is never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user, name=name, prefix=raw_key[:12], key_hash=hash_key(raw_key)
    )
    return key, raw_key


def get_or_create_user(username: str) -> tuple[AbstractBaseUser, bool]:
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user, created


def authenticate_api_key(raw_key: str) -> AbstractBaseUser | None:
    """The active user owning `raw_key`, or None."""
    if not raw_key:
        return None
    key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=hash_key(raw_key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if key is None:
        return None
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
    _, raw_key = create_api_key(user, name="bootstrap")
    return "admin", password, raw_key
