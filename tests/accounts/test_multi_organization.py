"""People in several organizations: every id is resolved with the request's access.

North and South are two organizations. Dual is an editor in both (North first, which is
what a user object without a request's access would fall back to); Bob is an editor in
South only. Everything below acts with South keys, Bob's and Dual's, and must never reach
North's agents, blocks, sources, files, passages, groups, runs, jobs or evaluations: not
by putting a North id in the path, not by combining a South agent with a North id, and
not by naming a North id in a request body.

The routes come from the OpenAPI schema, so a new route with an id in its path is in the
matrix as soon as it exists (and fails here until the test knows an id for it).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import Membership, Organization, Role
from accounts.services import create_api_key
from agents.models import Agent
from evaluation.models import Evaluation, EvaluationStatus, EvaluationStep
from evaluation.runner import ArmItem
from memory.models import Block, Passage

EMBEDDING = "local/hashing-bow"
NORTH_SECRET = "North's launch date is 12 March."


@dataclass
class World:
    north: dict[str, str]  # placeholder -> a North id
    south_agent: str
    keys: dict[str, Client]  # South keys, by person


def _client(key: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {key}"})


def _call(client: Client, method: str, path: str, body: Any = None) -> Any:
    if method == "get":
        return client.get(path)
    if method == "delete":
        return client.delete(path)
    if path.endswith("/upload"):
        return client.post(path, {"file": SimpleUploadedFile("notes.txt", b"hello", "text/plain")})
    return getattr(client, method)(
        path, data=json.dumps(body if body is not None else {}), content_type="application/json"
    )


def _ok(response: Any) -> Any:
    assert response.status_code in (200, 202), (response.status_code, response.content[:300])
    return response.json()


@pytest.fixture
def world(db: Any, django_user_model: Any) -> World:
    north = Organization.objects.create(name="north")
    south = Organization.objects.create(name="south")

    def person(name: str, *memberships: tuple[Organization, str]) -> Any:
        user = django_user_model.objects.create_user(username=name)
        for organization, role in memberships:
            Membership.objects.create(user=user, organization=organization, role=role)
        return user

    admin = person("nadia", (north, Role.ADMIN))
    dual = person("dual", (north, Role.EDITOR), (south, Role.EDITOR))
    bob = person("bob", (south, Role.EDITOR))
    north_api = _client(create_api_key(admin, organization=north)[1])
    keys = {
        "bob": _client(create_api_key(bob, organization=south)[1]),
        "dual": _client(create_api_key(dual, organization=south)[1]),
    }

    agent = _ok(
        _call(
            north_api,
            "post",
            "/v1/agents/",
            {
                "name": "northern",
                "model": "openai/gpt-4.1",
                "embedding": EMBEDDING,
                "memory_blocks": [{"label": "human", "value": NORTH_SECRET}],
                "enable_sleeptime": True,
            },
        )
    )
    block = _ok(_call(north_api, "post", "/v1/blocks/", {"label": "plans", "value": NORTH_SECRET}))
    passage = _ok(
        _call(
            north_api, "post", f"/v1/agents/{agent['id']}/archival-memory", {"text": NORTH_SECRET}
        )
    )[0]
    source = _ok(_call(north_api, "post", "/v1/sources/", {"name": "north-handbook"}))
    upload = _ok(_call(north_api, "post", f"/v1/sources/{source['id']}/upload"))
    [run] = _ok(_call(north_api, "post", f"/v1/agents/{agent['id']}/sleeptime/run"))
    conversation = _ok(
        _call(north_api, "post", f"/v1/conversations/?agent_id={agent['id']}", {"summary": "x"})
    )
    from agents.models import Message

    message = Message.objects.create(agent_id=agent["id"], role="user", content=NORTH_SECRET)
    proposal = _north_proposal(agent["id"], run["id"])
    tool = _ok(
        _call(
            north_api,
            "post",
            "/v1/tools/",
            {"source_code": f'def northern_tool() -> str:\n    return "{NORTH_SECRET}"\n'},
        )
    )
    mcp_server = _north_mcp_server(admin)
    north_ids = {
        "agent_id": agent["id"],
        "block_id": block["id"],
        "block_label": "human",
        "memory_id": passage["id"],
        "source_id": source["id"],
        "source_name": source["name"],
        "file_id": _file_id(source["id"]),
        "group_id": agent["multi_agent_group"]["id"],
        "run_id": run["id"],
        "conversation_id": conversation["id"],
        "message_id": message.uid,
        "job_id": upload["id"],
        "insight_id": "insight-00000000-0000-0000-0000-000000000000",
        "proposal_id": proposal,
        "evaluation_id": _north_evaluation(admin, north),
        "tool_id": tool["id"],
        "mcp_server_id": mcp_server.id,
        "mcp_server_name": mcp_server.server_name,
        "mcp_tool_name": "northern_tool",
    }
    # Dual's agent in South (created with Dual's South key): its owner is also a member of
    # North, and North is Dual's first organization.
    south_agent = _ok(
        _call(
            keys["dual"],
            "post",
            "/v1/agents/",
            {
                "name": "southern",
                "model": "openai/gpt-4.1",
                "embedding": EMBEDDING,
                "memory_blocks": [{"label": "human", "value": "South"}],
                "enable_sleeptime": True,
            },
        )
    )
    return World(north=north_ids, south_agent=south_agent["id"], keys=keys)


def _north_mcp_server(owner: Any) -> Any:
    """A registered MCP server of North's, with a token (stored as the service stores one;
    nothing here needs it to answer)."""
    from toolbox import mcp_servers

    return mcp_servers.create_mcp_server(
        owner,
        "north-mcp",
        mcp_servers.ServerConfig(
            server_type="streamable_http",
            server_url="http://127.0.0.1:9/mcp",
            auth_token=NORTH_SECRET,
        ),
    )


def _north_proposal(agent_id: str, run_id: str) -> str:
    """A proposed edit of North's `human` block (under review: the block keeps its text)."""
    from memory import services as memory_services

    north = Agent.objects.get(pk=agent_id)
    human = memory_services.get_agent_block(north, "human")
    memory_services.update_block(
        human.id, actor=memory_services.Actor.system(), requires_review=True
    )
    edit = memory_services.edit_block_as_agent(
        north,
        "human",
        lambda text: text + "\nmore",
        memory_services.Actor.for_agent(agent_id, run_id),
    )
    assert edit.proposal is not None
    return edit.proposal.pk


def _north_evaluation(owner: Any, north: Organization) -> str:
    """A queued evaluation with a step done whose copy's memory holds the secret, stored
    as the service stores one; made directly so that no model provider need be
    configured (its steps never run here)."""
    evaluation = Evaluation.objects.create(
        owner=owner,
        organization=north,
        agent_name="northern",
        reason=NORTH_SECRET,
        template={"model": "openai/gpt-4.1", "embedding": EMBEDDING, "system": "", "blocks": {}},
        material={"kind": "jsonl"},
        items=[],
        arms=["off"],
        steps_total=2,
        steps_done=1,
    )
    record = ArmItem(arm="off", item_id="plans", agent_id="agent-x", memory={"h": NORTH_SECRET})
    EvaluationStep.objects.create(
        evaluation=evaluation,
        organization=north,
        position=0,
        arm="off",
        item_id="plans",
        record=asdict(record),
    )
    return evaluation.pk


def _file_id(source_id: str) -> str:
    from sources.models import SourceFile

    return SourceFile.objects.get(source_id=source_id).pk


# Bodies that pass validation, so that a refusal is about the id, not the body.
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/v1/agents/{agent_id}"): {"description": "taken"},
    ("patch", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}"): {"value": "taken"},
    ("post", "/v1/agents/{agent_id}/archival-memory"): {"text": "taken"},
    ("post", "/v1/agents/{agent_id}/messages"): {"messages": [{"role": "user", "content": "x"}]},
    ("post", "/v1/agents/{agent_id}/messages/stream"): {
        "messages": [{"role": "user", "content": "x"}]
    },
    ("patch", "/v1/blocks/{block_id}"): {"value": "taken"},
    ("post", "/v1/blocks/{block_id}/revert"): {"version": 1},
    ("patch", "/v1/groups/{group_id}"): {"description": "taken"},
    ("patch", "/v1/sources/{source_id}"): {"description": "taken"},
    ("patch", "/v1/folders/{source_id}"): {"description": "taken"},
    ("post", "/v1/agents/{agent_id}/forget"): {"kind": "passages", "text": "launch"},
    ("post", "/v1/runs/{run_id}/revert"): {},
    ("patch", "/v1/conversations/{conversation_id}"): {"description": "taken"},
    ("post", "/v1/conversations/{conversation_id}/messages"): {
        "messages": [{"role": "user", "content": "x"}],
        "streaming": False,
    },
}
# Required query parameters, for the same reason.
QUERIES = {"/v1/agents/{agent_id}/archival-memory/search": "?query=launch"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _routes() -> list[tuple[str, str]]:
    from config.api import api

    schema = api.get_openapi_schema()
    return [
        (method, path)
        for path, operations in schema["paths"].items()
        if "{" in path
        for method in operations
    ]


def _fill(template: str, ids: dict[str, str]) -> str:
    missing = set(_PLACEHOLDER.findall(template)) - ids.keys()
    assert not missing, f"the matrix needs an id for {missing} ({template}); add one"
    return _PLACEHOLDER.sub(lambda match: ids[match[1]], template) + QUERIES.get(template, "")


def _north_untouched() -> None:
    assert Evaluation.objects.get(reason=NORTH_SECRET).status == "queued"
    human = Block.objects.get(agent_links__agent__name="northern", agent_links__label="human")
    assert human.value == NORTH_SECRET
    assert Block.objects.get(label="plans").value == NORTH_SECRET
    assert Passage.objects.filter(text=NORTH_SECRET).count() == 1
    assert Agent.objects.filter(organization__name="north", name="northern").exists()
    assert Evaluation.objects.get(organization__name="north").status == EvaluationStatus.QUEUED


@pytest.mark.parametrize("person", ["bob", "dual"])
def test_north_ids_in_the_path_answer_404_to_south_keys(world: World, person: str):
    client = world.keys[person]
    answered = {}
    for method, template in _routes():
        path = _fill(template, world.north)
        response = _call(client, method, path, BODIES.get((method, template)))
        answered[f"{method.upper()} {template}"] = response.status_code
        assert NORTH_SECRET.encode() not in response.content, (method, template)

    assert {route: status for route, status in answered.items() if status != 404} == {}
    _north_untouched()


@pytest.mark.parametrize("person", ["bob", "dual"])
def test_a_south_agent_combined_with_north_ids_answers_404(world: World, person: str):
    client = world.keys[person]
    ids = {**world.north, "agent_id": world.south_agent}
    answered = {}
    for method, template in _routes():
        names = set(_PLACEHOLDER.findall(template))
        if not template.startswith("/v1/agents/{agent_id}/") or names <= {"agent_id"}:
            continue
        if names - {"agent_id"} <= {"block_label"}:
            continue  # a label, not an id: resolved within the South agent
        response = _call(client, method, _fill(template, ids), BODIES.get((method, template)))
        answered[f"{method.upper()} {template}"] = response.status_code
    assert answered, "no route combines an agent with another id"
    assert {route: status for route, status in answered.items() if status != 404} == {}
    _north_untouched()


@pytest.mark.parametrize("person", ["bob", "dual"])
def test_north_ids_in_a_request_body_answer_404_to_south_keys(world: World, person: str):
    client = world.keys[person]
    south = world.south_agent
    north = world.north

    # The probe's finding: attaching another organization's block by id.
    attach = _call(client, "patch", f"/v1/agents/{south}", {"block_ids": [north["block_id"]]})
    assert attach.status_code == 404, attach.content
    create = _call(
        client,
        "post",
        "/v1/agents/",
        {"name": "x", "model": "openai/gpt-4.1", "block_ids": [north["block_id"]]},
    )
    assert create.status_code == 404, create.content
    # Another organization's tool, by id or by name, is not a tool an agent can be given.
    tools = _call(client, "patch", f"/v1/agents/{south}", {"tool_ids": [north["tool_id"]]})
    assert tools.status_code == 404, tools.content
    named = _call(client, "patch", f"/v1/agents/{south}", {"tools": ["northern_tool"]})
    assert named.status_code == 400 and "northern_tool" in named.content.decode()
    evaluate = _call(
        client,
        "post",
        "/v1/evaluations",
        {"agent_id": north["agent_id"], "material": {"kind": "arithmetic"}},
    )
    assert evaluate.status_code == 404, evaluate.content
    blocks = _ok(client.get(f"/v1/agents/{south}/core-memory/blocks"))
    assert north["block_id"] not in [block["id"] for block in blocks]

    forget = _call(
        client,
        "post",
        f"/v1/agents/{south}/forget",
        {"kind": "passages", "passage_ids": [north["memory_id"]]},
    )
    assert forget.status_code == 404, forget.content
    group = Agent.objects.get(pk=south).managed_group.pk
    regroup = _call(client, "patch", f"/v1/groups/{group}", {"agent_ids": [north["agent_id"]]})
    assert 400 <= regroup.status_code < 500, regroup.content
    _north_untouched()


# --- The ADE (browser) --------------------------------------------------------------------


def _page_routes() -> list[str]:
    """Every page and form of the ADE with an id in its path, as a template."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "<" in route:
                if not route.startswith(("admin/", "v1/")):
                    found.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))

    walk(get_resolver().url_patterns, "")
    return found


def _browser(world: World, person: str) -> Client:
    """A signed-in browser acting in South (Dual's first organization is North)."""
    from accounts.middleware import SESSION_KEY

    user = Membership.objects.get(user__username=person, organization__name="south")
    browser = Client()
    browser.force_login(user.user)
    session = browser.session
    session[SESSION_KEY] = user.organization_id
    session.save()
    return browser


@pytest.mark.parametrize("person", ["bob", "dual"])
def test_north_ids_in_the_ades_pages_and_forms_answer_404_to_south(world: World, person: str):
    from accounts.models import ApiKey

    browser = _browser(world, person)
    north_admin = Membership.objects.get(user__username="nadia")
    ids = {
        **world.north,
        "membership_id": str(north_admin.pk),
        "key_id": str(ApiKey.objects.get(user__username="nadia").pk),
        "server_id": world.north["mcp_server_id"],
    }
    answered = {}
    for template in _page_routes():
        path = _fill(template, ids)
        for method in ("get", "post"):
            form = {"source": world.north["source_id"], "value": "taken", "role": "viewer"}
            response = getattr(browser, method)(path, form if method == "post" else None)
            answered[f"{method.upper()} {template}"] = response.status_code
            assert NORTH_SECRET.encode() not in response.content, (method, template)
    assert answered
    # 405: the route does not take that method at all.
    assert {route: status for route, status in answered.items() if status not in (404, 405)} == {}
    # Attaching North's source to a South agent by its id, through the form.
    attach = browser.post(
        f"/agents/{world.south_agent}/sources/attach/", {"source": world.north["source_id"]}
    )
    assert "Choose one of your sources" in attach.content.decode()
    assert not Agent.objects.get(pk=world.south_agent).sources.exists()
    _north_untouched()
