"""Where a person enters the browser: signing in gives one who belongs to no organization
an organization of their own (accounts.access.ensure_membership)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts.access import ensure_membership


@receiver(user_logged_in)
def give_an_organization(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    ensure_membership(user)
