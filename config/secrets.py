"""Secrets at rest (MCP servers' credentials, tools' environment variables): encrypted with
Fernet (AES-128-CBC with an HMAC) under a key derived from SECRET_KEY, so a copy of the
database alone reads none of them. Keys in SECRET_KEY_FALLBACKS still decrypt, so
SECRET_KEY can be rotated as Django documents: a secret written under an old key is
re-encrypted under the new one the next time it is saved. Losing SECRET_KEY loses them."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(Exception):
    """Stored under a key this deployment no longer has."""


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"reverie secrets at rest"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def seal(value: Any) -> str:
    """`value` (anything JSON can hold) as a token to store; "" for an empty value."""
    if value in (None, "", {}, []):
        return ""
    return _keys().encrypt(json.dumps(value).encode()).decode()


def unseal(token: str, default: Any = None) -> Any:
    """What `seal` sealed; `default` for an empty token."""
    if not token:
        return default
    try:
        return json.loads(_keys().decrypt(token.encode()))
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted: it was written under another SECRET_KEY."
        ) from None
