"""Organizations and roles through the REST API: a team shares its agents, memory and
sources; another organization cannot even tell they exist; a viewer's key only reads."""

from __future__ import annotations

from agents.models import Agent
from memory.models import Block
from tests.factories import Team
from tests.http import patch, post

AGENT = {
    "name": "shared",
    "model": "openai/gpt-4.1",
    "memory_blocks": [{"label": "human", "value": "Ada"}],
}


def _agent(team: Team) -> dict:
    response = post(team.editor.api, "/v1/agents/", AGENT)
    assert response.status_code == 200, response.content
    return response.json()


def test_an_agent_belongs_to_its_keys_organization_and_the_team_shares_it(team):
    made = _agent(team)
    assert Agent.objects.get(pk=made["id"]).organization == team.organization
    for member in (team.admin, team.viewer):
        listed = member.api.get("/v1/agents/").json()
        assert [agent["id"] for agent in listed] == [made["id"]]
    block_id = made["memory"]["blocks"][0]["id"]
    assert team.viewer.api.get(f"/v1/blocks/{block_id}").json()["value"] == "Ada"


def test_another_organizations_ids_answer_404(team):
    made = _agent(team)
    block_id = made["memory"]["blocks"][0]["id"]
    outsider = team.outsider.api
    assert outsider.get("/v1/agents/").json() == []
    for path in (
        f"/v1/agents/{made['id']}",
        f"/v1/agents/{made['id']}/messages",
        f"/v1/blocks/{block_id}",
        f"/v1/blocks/{block_id}/history",
    ):
        response = outsider.get(path)
        assert response.status_code == 404, path
        assert "not found" in response.json()["detail"].lower()
    assert patch(outsider, f"/v1/blocks/{block_id}", {"value": "mine now"}).status_code == 404
    assert outsider.delete(f"/v1/agents/{made['id']}").status_code == 404
    assert Block.objects.get(pk=block_id).value == "Ada"
    assert Agent.objects.filter(pk=made["id"]).exists()


def test_sources_and_groups_are_per_organization(team):
    source = post(team.editor.api, "/v1/sources/", {"name": "handbook"}).json()
    assert team.viewer.api.get(f"/v1/sources/{source['id']}").status_code == 200
    assert team.outsider.api.get(f"/v1/sources/{source['id']}").status_code == 404
    # Names are unique within an organization only.
    assert post(team.outsider.api, "/v1/sources/", {"name": "handbook"}).status_code == 200
    taken = post(team.admin.api, "/v1/sources/", {"name": "handbook"})
    assert taken.status_code == 409
    assert "already exists" in taken.json()["detail"]
    made = post(team.editor.api, "/v1/agents/", {**AGENT, "enable_sleeptime": True}).json()
    group_id = made["multi_agent_group"]["id"]
    assert team.viewer.api.get(f"/v1/groups/{group_id}").status_code == 200
    assert team.outsider.api.get(f"/v1/groups/{group_id}").status_code == 404


def test_a_viewers_key_reads_but_cannot_change_anything(team):
    made = _agent(team)
    block_id = made["memory"]["blocks"][0]["id"]
    viewer = team.viewer.api
    assert viewer.get(f"/v1/agents/{made['id']}").status_code == 200
    refused = [
        post(viewer, "/v1/agents/", AGENT),
        patch(viewer, f"/v1/blocks/{block_id}", {"value": "changed"}),
        post(
            viewer,
            f"/v1/agents/{made['id']}/messages",
            {"messages": [{"role": "user", "content": "hi"}]},
        ),
        viewer.delete(f"/v1/agents/{made['id']}"),
    ]
    for response in refused:
        assert response.status_code == 403
        assert "role in acme is viewer" in response.json()["detail"]
    assert Agent.objects.filter(organization=team.organization).count() == 1
    assert Block.objects.get(pk=block_id).value == "Ada"
    assert not Agent.objects.get(pk=made["id"]).messages.exists()


def test_an_editor_changes_memory_that_the_whole_team_then_sees(team):
    made = _agent(team)
    block_id = made["memory"]["blocks"][0]["id"]
    assert (
        patch(team.editor.api, f"/v1/blocks/{block_id}", {"value": "Ada Lovelace"}).status_code
        == 200
    )
    history = team.admin.api.get(f"/v1/blocks/{block_id}/history").json()
    assert history  # the edit is attributed in the shared history
    assert team.viewer.api.get(f"/v1/blocks/{block_id}").json()["value"] == "Ada Lovelace"


def test_a_key_stops_working_when_its_user_leaves_the_organization(team):
    assert team.viewer.api.get("/v1/agents/").status_code == 200
    team.viewer.user.memberships.all().delete()
    response = team.viewer.api.get("/v1/agents/")
    assert response.status_code == 401


def test_a_revoked_key_is_refused(team):
    from accounts.services import revoke_api_key

    key = team.editor.user.api_keys.get()
    revoke_api_key(team.editor.user, key.id)
    assert team.editor.api.get("/v1/agents/").status_code == 401
