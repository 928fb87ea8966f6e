"""Fixtures of the accounts tests: a team (tests/factories.py, build_team), and rate
limits that start afresh for each test."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from tests.factories import Team, build_team


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def team(db: Any, django_user_model: Any) -> Team:
    return build_team(django_user_model)
