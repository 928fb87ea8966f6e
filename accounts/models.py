from __future__ import annotations

from django.conf import settings
from django.db import models

from config.ids import apikey_id


class ApiKey(models.Model):
    """A bearer key for the REST API. Only a hash of the key is stored."""

    id = models.CharField(primary_key=True, max_length=64, default=apikey_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
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
