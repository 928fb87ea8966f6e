"""`/v1/agents/import` is its own route: `/v1/agents/{agent_id}` once took "import" for an
agent's id and answered the import's POST with a 405 (config/api.py mounts the Agent File
routes first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agentfiles" / "letta_sleeptime.af"


@pytest.mark.parametrize("path", ["/v1/agents/import", "/v1/agents/import/"])
def test_a_post_to_agents_import_reaches_the_import(api, path):
    missing = api.post(path, {})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"][-1] == "file"
    file = SimpleUploadedFile("juniper.af", FIXTURE.read_bytes(), "application/json")
    imported = api.post(path, {"file": file})
    assert imported.status_code == 200, imported.content
    assert len(imported.json()["agent_ids"]) == 2


def test_the_agent_routes_beside_it_answer_as_before(api, make_agent):
    agent = make_agent(name="neighbour")
    assert api.get(f"/v1/agents/{agent.id}").json()["name"] == "neighbour"
    assert api.get(f"/v1/agents/{agent.id}/export").json()["agents"][0]["name"] == "neighbour"
    assert api.get("/v1/agents/import").status_code == 405  # import takes a POST only
    assert api.get("/v1/agents/not-an-agent").status_code == 404
    paths = api.get("/v1/openapi.json").json()["paths"]
    assert "post" in paths["/v1/agents/import"]
    assert "get" in paths["/v1/agents/{agent_id}/export"]
