"""The ADE's forgetting page: the record of what was forgotten, and a form to forget."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from forgetting.models import ForgetJob, Tombstone
from tests.factories import make_agent as build_agent
from tests.factories import make_user, say
from tests.forgetting.support import contents


@pytest.fixture
def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def page_url(agent: Agent) -> str:
    return reverse("forgetting:page", args=[agent.id])


def test_the_page_shows_the_form_and_the_record_without_any_text(signed_in, make_agent, llm):
    agent = make_agent()
    say(agent, "The alarm code is 9911")
    signed_in.post(page_url(agent), {"text": "alarm code", "kind": "messages"})

    body = signed_in.get(page_url(agent)).content.decode()

    assert 'name="text"' in body
    (tombstone,) = Tombstone.objects.all()
    assert tombstone.id in body
    assert "Messages" in body
    assert "alarm" not in body


def test_a_plain_post_forgets_and_redirects_back_with_a_message(signed_in, make_agent, llm):
    agent = make_agent()
    say(agent, "The alarm code is 9911")

    response = signed_in.post(page_url(agent), {"text": "ALARM", "kind": "messages"}, follow=True)

    assert response.redirect_chain == [(page_url(agent), 302)]
    assert "Forgetting done." in response.content.decode()
    assert not any("alarm" in text.lower() for text in contents(agent))


def test_an_htmx_post_answers_with_the_section_and_a_matter_is_queued(signed_in, make_agent):
    agent = make_agent()

    response = signed_in.post(
        page_url(agent), {"text": "Kestrel", "kind": "matter"}, headers={"HX-Request": "true"}
    )

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="forget"')
    assert "Forgetting queued." in body
    assert "Kestrel" not in body
    assert 'hx-trigger="every 2s"' in body  # the log follows the job until it ends
    assert ForgetJob.objects.get().status == "queued"


def test_a_text_too_short_is_a_field_error_and_nothing_is_forgotten(signed_in, make_agent):
    agent = make_agent()

    response = signed_in.post(page_url(agent), {"text": "ab", "kind": "matter"})

    assert response.status_code == 400
    assert "at least 3 characters" in response.content.decode()
    assert not ForgetJob.objects.exists()


def test_a_job_error_is_shown_escaped(signed_in, make_agent):
    agent = make_agent()
    ForgetJob.objects.create(
        agent_id=agent.id, who="7", status="failed", error="<script>alert(1)</script>"
    )

    body = signed_in.get(page_url(agent), headers={"HX-Request": "true"}).content.decode()

    assert body.lstrip().startswith('<div id="forget-log"')
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert" not in body


def test_the_agent_can_be_given_the_forget_tool_and_have_it_taken_away(signed_in, make_agent):
    agent = make_agent()
    toggle = reverse("forgetting:tool", args=[agent.id])

    signed_in.post(toggle, {"enabled": "on"})
    agent.refresh_from_db()
    assert "forget" in agent.tools

    signed_in.post(toggle, {})
    agent.refresh_from_db()
    assert "forget" not in agent.tools


def test_another_persons_agent_is_not_found(signed_in, db):

    stranger = make_user("stranger-page")
    theirs = build_agent(stranger, name="theirs")

    assert signed_in.get(page_url(theirs)).status_code == 404
    assert signed_in.post(page_url(theirs), {"text": "abc", "kind": "matter"}).status_code == 404
    toggle = reverse("forgetting:tool", args=[theirs.id])
    assert signed_in.post(toggle, {"enabled": "on"}).status_code == 404
    assert not ForgetJob.objects.exists()


def test_the_agent_page_links_to_its_forgetting_page(signed_in, make_agent):
    agent = make_agent()

    body = signed_in.get(reverse("agents:detail", args=[agent.id])).content.decode()

    assert f'href="{page_url(agent)}"' in body
