"""The HTTP contract around the routes: auth, slashes, error shapes, client mistakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

# Turns and embeddings run on worker threads with their own database connections, so a
# test that reaches them must commit its data for them to see it.
committed = pytest.mark.django_db(transaction=True)


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_health_answers_without_a_key(db):
    response = Client().get("/v1/health/")
    assert response.status_code == 200


def test_the_openapi_schema_and_docs_are_served(db):
    schema = Client().get("/v1/openapi.json")
    assert schema.status_code == 200
    assert "/v1/agents/{agent_id}/messages" in schema.json()["paths"]
    assert Client().get("/v1/docs").status_code == 200


def test_an_unknown_api_route_is_a_json_404_and_an_unknown_page_stays_html(db):
    response = Client().get("/v1/no-such-route/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found: GET /v1/no-such-route/"}
    page = Client().get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_unknown_tools_are_refused_in_lettas_words_and_no_agent_is_made(api):
    body = {"name": "coder", "model": "openai/gpt-4.1", "tools": ["web_search", "fetch_webpage"]}
    response = post(api, "/v1/agents/", body)
    assert response.status_code == 400
    # Letta Code recognises this wording and retries without server tools.
    assert response.json()["detail"].startswith(
        "Tools not found by name: {'web_search', 'fetch_webpage'}."
    )
    assert api.get("/v1/agents/").json() == []


def test_a_request_without_a_key_is_a_401_with_a_detail(db):
    response = Client().get("/v1/agents/")
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


def test_a_revoked_or_unknown_key_is_a_401(db):
    response = Client(headers={"Authorization": "Bearer rev-nope"}).get("/v1/agents")
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/v1/agents/", "/v1/agents"])
def test_collection_paths_work_with_and_without_the_trailing_slash(api, path):
    response = post(api, path, {"model": "openai/gpt-4.1", "name": "slash"})
    assert response.status_code == 200, response.content
    assert api.get(path).status_code == 200


def test_creating_an_agent_without_a_model_is_a_400_naming_the_field(api):
    response = post(api, "/v1/agents/", {"name": "no-model"})
    assert response.status_code == 400
    assert "model" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "gpt-4.1"}, "provider/model"),
        ({"model": "openai/gpt-4.1", "tools": ["teleport"]}, "teleport"),
        ({"model": "openai/gpt-4.1", "agent_type": "robot"}, "agent_type"),
        (
            {
                "model": "openai/gpt-4.1",
                "memory_blocks": [{"label": "a", "value": ""}, {"label": "a", "value": ""}],
            },
            "label",
        ),
        (
            {
                "model": "openai/gpt-4.1",
                "memory_blocks": [{"label": "a", "value": "xx", "limit": 1}],
            },
            "character limit",
        ),
        ({"model": "openai/gpt-4.1", "name": "bad/name"}, "name"),
    ],
)
def test_client_mistakes_on_create_are_400s_and_create_nothing(api, user, body, needle):
    from agents.models import Agent
    from memory.models import Block

    response = post(api, "/v1/agents/", body)
    assert response.status_code == 400, response.content
    assert needle in response.json()["detail"]
    assert not Agent.objects.filter(owner=user).exists()
    assert not Block.objects.filter(owner=user).exists()


def test_a_malformed_message_body_is_a_422_with_details(api, make_agent):
    agent = make_agent()
    response = post(api, f"/v1/agents/{agent.id}/messages", {"messages": "hi"})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


@committed
def test_an_unconfigured_provider_refuses_the_turn_with_the_variable_to_set(api, make_agent):
    agent = make_agent(model="acme/brain-1")
    response = post(
        api, f"/v1/agents/{agent.id}/messages", {"messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 400
    assert "ACME_API_KEY" in response.json()["detail"]
    assert not agent.messages.exists()


def test_unknown_ids_are_404s(api):
    assert api.get("/v1/agents/agent-00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("/v1/blocks/block-nope").status_code == 404


@committed
def test_llm_base_url_sends_every_handle_to_one_gateway(api, make_agent, llm, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("LLM_BASE_URL", llm.base_url)
    agent = make_agent(model="anthropic/claude-3-7-sonnet-20250219")
    response = post(
        api, f"/v1/agents/{agent.id}/messages", {"messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200
    assert llm.last_request["model"] == "claude-3-7-sonnet-20250219"


@committed
def test_the_local_embedder_searches_archival_memory_offline(api, make_agent, llm):
    agent = make_agent(embedding="local/hashing-bow")
    for text in ["Our dog Rex loves long walks.", "The invoice is due on Friday."]:
        assert (
            post(api, f"/v1/agents/{agent.id}/archival-memory", {"text": text}).status_code == 200
        )
    found = api.get(
        f"/v1/agents/{agent.id}/archival-memory/search", {"query": "walks with the dog"}
    )
    assert found.json()["results"][0]["content"] == "Our dog Rex loves long walks."
    assert llm.embedding_requests == []


@committed
def test_the_context_endpoint_counts_tokens_per_component(api, make_agent, llm):
    agent = make_agent(blocks={"persona": "p" * 400})
    post(api, f"/v1/agents/{agent.id}/messages", {"messages": [{"role": "user", "content": "hi"}]})
    context = api.get(f"/v1/agents/{agent.id}/context").json()
    assert context["num_tokens_core_memory"] >= 100
    assert context["num_tokens_functions_definitions"] > 0
    assert context["num_tokens_messages"] > 0
    assert context["context_window_size_current"] == sum(
        context[key]
        for key in [
            "num_tokens_system",
            "num_tokens_core_memory",
            "num_tokens_external_memory_summary",
            "num_tokens_summary_memory",
            "num_tokens_functions_definitions",
            "num_tokens_messages",
        ]
    )


def test_deleting_a_block_detaches_it_from_its_agents(api, make_agent):
    agent = make_agent()
    human = api.get(f"/v1/agents/{agent.id}/core-memory/blocks/human").json()
    assert api.delete(f"/v1/blocks/{human['id']}").status_code == 200
    labels = [b["label"] for b in api.get(f"/v1/agents/{agent.id}/core-memory/blocks").json()]
    assert labels == ["persona"]


def test_a_string_where_an_object_belongs_is_a_422_not_an_empty_object(api, make_agent):
    # django-ninja's Schema reads attributes off anything; bodies take JSON objects only.
    agent = make_agent(enable_sleeptime=True)
    group = agent.managed_group

    regroup = api.patch(
        f"/v1/groups/{group.id}",
        data=json.dumps({"manager_config": "x", "description": "changed"}),
        content_type="application/json",
    )
    create = post(api, "/v1/agents/", {"name": "a", "llm_config": "openai/gpt-4.1"})

    assert regroup.status_code == 422, regroup.content
    assert "must be a JSON object" in json.dumps(regroup.json()["detail"])
    assert create.status_code == 422, create.content
    group.refresh_from_db()
    assert group.description != "changed"
