"""A turn's input has a size limit (MAX_MESSAGE_CHARS): over it, a 413 that says the
limit, before anything is stored or sent to the model. Before, a 1 MB message went to the
model whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents.models import Message

LIMIT = 1_000


@pytest.fixture
def limited(settings: Any) -> None:
    settings.MAX_MESSAGE_CHARS = LIMIT


def _say(api: Client, path: str, *texts: str) -> Any:
    body = {"messages": [{"role": "user", "content": text} for text in texts]}
    return api.post(path, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("route", ["messages", "messages/stream"])
def test_a_message_over_the_limit_is_a_413_and_nothing_is_stored_or_sent(
    api, make_agent, llm, limited, route
):
    agent = make_agent()

    response = _say(api, f"/v1/agents/{agent.id}/{route}", "x" * (LIMIT + 1))

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The message is 1,001 characters long; the limit is 1,000 (MAX_MESSAGE_CHARS). "
        "Upload a long text to a folder attached to the agent, or send it in parts."
    }
    assert not Message.objects.filter(agent=agent).exists()
    assert llm.requests == []


@pytest.mark.django_db(transaction=True)
def test_the_limit_counts_every_message_of_the_turn_and_a_turn_at_it_is_answered(
    api, make_agent, llm, limited
):
    agent = make_agent()

    over = _say(api, f"/v1/agents/{agent.id}/messages", "x" * 600, "y" * 401)
    assert over.status_code == 413
    llm.reply("Got it.")
    at = _say(api, f"/v1/agents/{agent.id}/messages", "x" * 600, "y" * 400)
    assert at.status_code == 200, at.content
    assert len(llm.requests) == 1


def test_the_ade_shows_the_limit_when_a_message_is_too_long(make_agent, user, llm, limited):
    agent = make_agent()
    browser = Client()
    browser.force_login(user)

    response = browser.post(
        f"/agents/{agent.id}/messages/", {"text": "x" * (LIMIT + 1)}, HTTP_HX_REQUEST="true"
    )

    assert "the limit is 1,000 (MAX_MESSAGE_CHARS)" in response.content.decode()
    assert not Message.objects.filter(agent=agent).exists()
    assert llm.requests == []
