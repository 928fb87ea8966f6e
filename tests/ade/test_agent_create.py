from __future__ import annotations

from django.urls import reverse

from agents.models import Agent, Group
from memory.models import Block


def _form(**overrides):
    data = {
        "name": "helper",
        "model": "openai/gpt-4.1",
        "embedding": "openai/text-embedding-3-small",
        "persona": "I am a careful helper.",
        "human": "Name: Ada",
    }
    data.update(overrides)
    return data


def test_the_form_offers_model_suggestions_and_the_default_embedding(
    signed_in, monkeypatch, settings
):
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    settings.DEFAULT_EMBEDDING = "local/test-embedder"
    response = signed_in.get(reverse("agents:create"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'list="model-suggestions"' in body
    assert '<option value="groq/llama-3.3-70b-versatile">' in body
    assert 'name="embedding" value="local/test-embedder"' in body
    assert "No model provider is configured" not in body


def test_without_a_provider_the_form_says_so_and_still_suggests(signed_in, monkeypatch):
    monkeypatch.setattr("agents.views.pages.configured_providers", lambda: [])
    body = signed_in.get(reverse("agents:create")).content.decode()
    assert "No model provider is configured" in body
    assert '<option value="openai/gpt-4.1">' in body


def test_creating_an_agent_makes_it_with_its_blocks_and_opens_its_page(signed_in, user):
    response = signed_in.post(reverse("agents:create"), _form())
    agent = Agent.objects.get(owner=user, name="helper")
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=[agent.id])
    blocks = {b.label: b.value for b in Block.objects.filter(agent_links__agent=agent)}
    assert blocks == {"persona": "I am a careful helper.", "human": "Name: Ada"}
    assert agent.llm_handle == "openai/gpt-4.1"
    assert agent.embedding_handle == "openai/text-embedding-3-small"
    assert not Group.objects.filter(manager_agent=agent).exists()
    page = signed_in.get(response["Location"])
    assert "Created agent helper." in page.content.decode()


def test_creating_with_sleeptime_makes_the_group(signed_in, user):
    signed_in.post(reverse("agents:create"), _form(enable_sleeptime="on"))
    agent = Agent.objects.get(owner=user, name="helper")
    group = Group.objects.get(manager_agent=agent)
    assert agent.enable_sleeptime is True
    assert [a.name for a in group.participants.all()] == ["helper-sleeptime"]


def test_a_model_handle_without_a_provider_is_refused_and_nothing_is_created(signed_in, user):
    response = signed_in.post(reverse("agents:create"), _form(model="gpt-4.1"))
    body = response.content.decode()
    assert response.status_code == 400
    assert "must look like &#x27;provider/model-name&#x27;" in body
    assert 'value="gpt-4.1"' in body  # what was typed stays in the form
    assert not Agent.objects.filter(owner=user).exists()
    assert not Block.objects.filter(owner=user).exists()


def test_a_block_over_its_limit_is_refused_and_nothing_is_created(signed_in, user):
    response = signed_in.post(reverse("agents:create"), _form(persona="x" * 6000))
    assert response.status_code == 400
    assert "form-errors" in response.content.decode()
    assert not Agent.objects.filter(owner=user).exists()
    assert not Block.objects.filter(owner=user).exists()


def test_a_missing_model_is_a_field_error(signed_in, user):
    response = signed_in.post(reverse("agents:create"), _form(model=""))
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Agent.objects.filter(owner=user).exists()


def test_an_empty_name_gets_a_made_up_one(signed_in, user):
    signed_in.post(reverse("agents:create"), _form(name=""))
    assert Agent.objects.get(owner=user).name.startswith("agent-")
