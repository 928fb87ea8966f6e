"""The rows of an owned model a person may see: those of the organization they act in
(accounts.access). Every model with an `organization` takes its manager from here."""

from __future__ import annotations

from typing import Self, TypeVar

from django.db import models

from accounts.access import access_for

_M = TypeVar("_M", bound=models.Model)


class OrganizationQuerySet(models.QuerySet[_M]):
    def for_user(self, user: object) -> Self:
        """What `user` may see: their organization's."""
        return self.filter(organization=access_for(user).organization)
