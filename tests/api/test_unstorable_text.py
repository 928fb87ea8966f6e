"""Text that is not valid Unicode (a lone surrogate, which JSON can spell as "\\ud800") is
refused where it enters, with a 400 that names the field, and nothing is stored. Before,
psycopg's encoder failed on it and the API answered an HTML 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from agents.models import Agent, Message
from memory.models import Block, Passage
from sources.models import Source

LONE = "a\ud800b"


def _send(client: Client, method: str, path: str, body: Any) -> Any:
    import json

    # json.dumps spells the surrogate as the escape "\ud800", as a client's JSON would.
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


def _stored() -> tuple[int, ...]:
    return (
        Agent.objects.count(),
        Block.objects.count(),
        Message.objects.count(),
        Passage.objects.count(),
        Source.objects.count(),
    )


ROUTES = [
    ("post", "/v1/blocks/", {"label": "x", "value": LONE}, "value"),
    ("patch", "/v1/blocks/{block}", {"value": LONE}, "value"),
    ("patch", "/v1/agents/{agent}", {"description": LONE}, "description"),
    ("patch", "/v1/agents/{agent}/core-memory/blocks/human", {"value": LONE}, "value"),
    (
        "post",
        "/v1/agents/{agent}/messages",
        {"messages": [{"role": "user", "content": LONE}]},
        "messages[0].content",
    ),
    ("post", "/v1/agents/{agent}/archival-memory", {"text": LONE}, "text"),
    ("post", "/v1/folders/", {"name": "f", "description": LONE}, "description"),
    (
        "post",
        "/v1/agents/",
        {"name": "a", "model": "openai/gpt-4.1", "memory_blocks": [{"label": LONE, "value": ""}]},
        "memory_blocks[0].label",
    ),
    ("post", "/v1/agents/", {"name": "a", LONE: 1}, "a field name in (the body)"),
]


@pytest.mark.parametrize(
    ("method", "template", "body", "field"), ROUTES, ids=[f"{m} {t}" for m, t, _, _ in ROUTES]
)
def test_a_lone_surrogate_is_a_400_naming_the_field_and_nothing_is_stored(
    api, make_agent, method, template, body, field
):
    agent = make_agent()
    block = Block.objects.filter(agent_links__agent=agent).first()
    path = template.format(agent=agent.id, block=block.id)
    before = _stored()
    values = {b.pk: b.value for b in Block.objects.all()}

    response = _send(api, method, path, body)

    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail == (
        f"{field} holds a lone surrogate (such as \\ud800 without its pair), which is not "
        "valid Unicode text; nothing was stored."
    ), detail
    assert _stored() == before
    assert {b.pk: b.value for b in Block.objects.all()} == values
    assert Agent.objects.get(pk=agent.pk).description == agent.description


def test_a_nul_character_anywhere_in_a_body_is_a_400_naming_the_field(api, make_agent):
    agent = make_agent()

    response = _send(api, "patch", f"/v1/agents/{agent.id}", {"metadata": {"note": "a\x00b"}})

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "metadata.note holds a NUL character (\\u0000), which PostgreSQL cannot store; "
        "nothing was stored."
    )


@pytest.mark.django_db(transaction=True)
def test_a_model_reply_with_a_lone_surrogate_is_kept_with_a_replacement_character(
    api, make_agent, llm
):
    agent = make_agent()
    llm.reply("caf\ud800 is open")

    response = _send(
        api,
        "post",
        f"/v1/agents/{agent.id}/messages",
        {"messages": [{"role": "user", "content": "is it open?"}]},
    )

    assert response.status_code == 200, response.content
    said = [
        m["content"]
        for m in response.json()["messages"]
        if m["message_type"] == "assistant_message"
    ]
    assert said == ["caf\ufffd is open"]
    assert Message.objects.filter(agent=agent, content__contains="caf\ufffd is open").exists()
