"""Fixtures for the ADE's pages: a signed-in browser session, another person, and the
suite's own MCP server (tests/toolbox/conftest.py) for the MCP server pages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from tests.factories import make_user
from tests.toolbox.conftest import dead_url, mcp_http_url

__all__ = ["dead_url", "mcp_http_url"]


@pytest.fixture
def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def stranger(db: Any) -> Any:

    return make_user(f"stranger-{uuid.uuid4().hex[:8]}")
