"""JSON requests through Django's test client."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def patch(client: Client, path: str, body: Any) -> Any:
    return client.patch(path, data=json.dumps(body), content_type="application/json")
