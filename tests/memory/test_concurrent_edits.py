"""Two writers from the same version of a block: an acknowledged edit is never silently
undone. Insertions at the same place keep both; changes of the same lines refuse the later
writer with a 409 that carries the current text and version, and store nothing."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from memory import services as memory_services
from memory.services import Actor


def _patch(api: Client, block_id: str, body: dict[str, Any]) -> Any:
    return api.patch(
        f"/v1/blocks/{block_id}", data=json.dumps(body), content_type="application/json"
    )


def test_a_persons_append_after_a_runs_append_keeps_both(api, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = memory_services.get_agent_block(agent, "human")
    opened = block.version
    # A sleep-time run appends its fact (version 2) while the person's editor is open.
    memory_services.edit_block_as_agent(
        agent, "human", lambda value: value + "\nCity: Porto", Actor.for_agent(agent.id)
    )

    saved = _patch(api, block.id, {"value": "Name: Ada\nLikes: jazz", "base_version": opened})

    assert saved.status_code == 200, saved.content
    assert saved.json()["value"] == "Name: Ada\nCity: Porto\nLikes: jazz"
    assert memory_services.get_agent_block(agent, "human").value == (
        "Name: Ada\nCity: Porto\nLikes: jazz"
    )


def test_a_second_edit_of_the_same_line_from_the_same_base_is_a_409_and_the_first_stays(
    api, make_agent
):
    agent = make_agent(blocks={"human": "Name: Ada\nCity: London"})
    block = memory_services.get_agent_block(agent, "human")
    base = block.version

    first = _patch(api, block.id, {"value": "Name: Ada\nCity: Paris", "base_version": base})
    second = _patch(api, block.id, {"value": "Name: Ada\nCity: Rome", "base_version": base})

    assert first.status_code == 200
    assert second.status_code == 409
    answer = second.json()
    assert answer["current_value"] == "Name: Ada\nCity: Paris"
    assert answer["current_version"] == base + 1
    assert "on the same lines" in answer["detail"] and "Nothing was saved" in answer["detail"]
    assert memory_services.get_agent_block(agent, "human").value == "Name: Ada\nCity: Paris"
    assert block.versions.count() == 2
    # Resolved knowingly, against the version it was shown, the write goes through.
    third = _patch(
        api, block.id, {"value": "Name: Ada\nCity: Paris, then Rome", "base_version": base + 1}
    )
    assert third.status_code == 200
    assert third.json()["value"] == "Name: Ada\nCity: Paris, then Rome"


def test_the_agent_routes_label_edit_refuses_the_same_way(api, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = memory_services.get_agent_block(agent, "human")
    base = block.version
    _patch(api, block.id, {"value": "Name: Ada L.", "base_version": base})

    response = api.patch(
        f"/v1/agents/{agent.id}/core-memory/blocks/human",
        data=json.dumps({"value": "Name: A. Lovelace", "base_version": base}),
        content_type="application/json",
    )

    assert response.status_code == 409
    assert response.json()["current_value"] == "Name: Ada L."
