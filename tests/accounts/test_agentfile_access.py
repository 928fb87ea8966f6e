"""Agent Files and organizations: an export reaches only the caller's agents, and what an
import creates belongs to the organization the caller acts in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import Membership, Organization, Role
from accounts.services import create_api_key
from agents.models import Agent, Group, Message
from memory.models import Block
from sources.models import Source, SourceFile
from tests.factories import Team, make_agent

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agentfiles" / "letta_sleeptime.af"


def import_fixture(api: Client) -> Any:
    file = SimpleUploadedFile("juniper.af", FIXTURE.read_bytes(), "application/json")
    return api.post("/v1/agents/import", {"file": file})


def test_another_organizations_agent_cannot_be_exported(team: Team):
    agent = make_agent(team.editor.user, name="secret", enable_sleeptime=True)
    outsider = team.outsider.api.get(f"/v1/agents/{agent.id}/export")
    assert outsider.status_code == 404
    assert outsider.json() == {"detail": f"Agent '{agent.id}' not found"}
    page = team.outsider.browser.get(f"/agents/{agent.id}/export/")
    assert page.status_code == 404
    # A viewer of the organization reads it, as they read everything else.
    assert team.viewer.api.get(f"/v1/agents/{agent.id}/export").status_code == 200


def test_imported_objects_belong_to_the_importers_organization(team: Team):
    response = import_fixture(team.editor.api)
    assert response.status_code == 200, response.content
    agents = Agent.objects.filter(pk__in=response.json()["agent_ids"])
    assert {agent.organization for agent in agents} == {team.organization}
    assert {agent.owner for agent in agents} == {team.editor.user}
    assert (
        Block.objects.filter(agent_links__agent__in=agents)
        .exclude(organization=team.organization)
        .count()
        == 0
    )
    assert Group.objects.get(manager_agent__in=agents).organization == team.organization
    source = Source.objects.get(agents__in=agents)
    assert source.organization == team.organization
    assert SourceFile.objects.get(source=source).organization == team.organization
    # The rest of the organization sees them; the outsider does not.
    listed = {agent["id"] for agent in team.viewer.api.get("/v1/agents").json()}
    assert set(response.json()["agent_ids"]) <= listed
    assert team.outsider.api.get("/v1/agents").json() == []
    assert team.outsider.api.get(f"/v1/agents/{agents[0].id}").status_code == 404


def test_a_key_of_a_second_organization_imports_into_that_one(team: Team, django_user_model):
    other = Organization.objects.create(name="side-project")
    Membership.objects.create(user=team.editor.user, organization=other, role=Role.EDITOR)
    _, key = create_api_key(team.editor.user, organization=other)
    response = import_fixture(Client(headers={"Authorization": f"Bearer {key}"}))
    assert response.status_code == 200, response.content
    agents = Agent.objects.filter(pk__in=response.json()["agent_ids"])
    assert {agent.organization for agent in agents} == {other}
    assert Source.objects.get(agents__in=agents).organization == other
    # Not in the organization the editor acts in by default.
    assert team.editor.api.get(f"/v1/agents/{agents[0].id}").status_code == 404


def test_a_viewer_cannot_import_and_nothing_is_stored(team: Team):
    before = (Agent.objects.count(), Message.objects.count(), Source.objects.count())
    response = import_fixture(team.viewer.api)
    assert response.status_code == 403
    assert (Agent.objects.count(), Message.objects.count(), Source.objects.count()) == before
