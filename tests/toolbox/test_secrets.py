"""Secrets at rest: sealed under a key from SECRET_KEY, unreadable without it, still
readable after SECRET_KEY is rotated with the old one in SECRET_KEY_FALLBACKS."""

from __future__ import annotations

import pytest

from config.secrets import SecretUnreadable, seal, unseal


def test_a_sealed_secret_reads_back_and_does_not_show_in_the_token():
    token = seal({"API_TOKEN": "hunter2-very-secret"})

    assert "hunter2" not in token
    assert unseal(token) == {"API_TOKEN": "hunter2-very-secret"}
    assert seal({}) == "" and unseal("", default={}) == {}


def test_rotating_the_secret_key_keeps_old_secrets_readable(settings):
    token = seal("old secret")
    old = settings.SECRET_KEY

    settings.SECRET_KEY = "a-brand-new-key-" + "x" * 40
    with pytest.raises(SecretUnreadable):
        unseal(token)

    settings.SECRET_KEY_FALLBACKS = [old]
    assert unseal(token) == "old secret"
