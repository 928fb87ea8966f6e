from __future__ import annotations

from django.conf import settings
from django.db import models

from config.ids import apikey_id, organization_id


class Role(models.TextChoices):
    """What a member may do in an organization; each role can do what the one before can."""

    VIEWER = "viewer"  # read agents, blocks, runs, sources
    EDITOR = "editor"  # and chat, edit memory, upload, run sleep-time
    ADMIN = "admin"  # and manage members and their API keys


class Organization(models.Model):
    """Everything (agents, blocks, sources, runs) belongs to one organization; people see
    what belongs to the organizations they are members of."""

    id = models.CharField(primary_key=True, max_length=64, default=organization_id, editable=False)
    name = models.CharField(max_length=100)
    # Tokens the organization's background work (sleep-time, digests) may spend; None:
    # no limit. Checked before each run (agents/governor.py).
    daily_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ApiKey(models.Model):
    """A bearer key for the REST API. Only a hash of the key is stored."""

    id = models.CharField(primary_key=True, max_length=64, default=apikey_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    # A key acts in one organization, with its user's role there.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    # The first characters, so a person can tell keys apart in a list without the secret.
    prefix = models.CharField(max_length=16)
    # SHA-256 is enough: keys are 256 random bits, so there is nothing to brute-force, and a
    # fast hash keeps per-request authentication cheap.
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
