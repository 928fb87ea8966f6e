"""JSON's types are kept: a number where a boolean belongs is refused, as a boolean where
a number belongs is (pydantic would read 0.0 as false and true as 1)."""

from __future__ import annotations

import pytest

from memory.models import Block
from tests.http import post


@pytest.mark.parametrize("read_only", [0.0, 1, "yes"])
def test_a_non_boolean_for_a_boolean_field_is_a_422_and_stores_nothing(api, read_only):
    response = post(api, "/v1/blocks/", {"label": "notes", "value": "", "read_only": read_only})

    assert response.status_code == 422, response.content
    assert "read_only must be true or false" in str(response.json()["detail"])
    assert not Block.objects.filter(label="notes").exists()


def test_booleans_and_nulls_are_still_taken(api):
    made = post(api, "/v1/blocks/", {"label": "notes", "value": "", "read_only": True})
    agent = post(api, "/v1/agents/", {"model": "openai/gpt-4.1", "enable_sleeptime": None})

    assert made.status_code == 200 and made.json()["read_only"] is True
    assert agent.status_code == 200, agent.content
