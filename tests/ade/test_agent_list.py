from __future__ import annotations

from django.urls import reverse

from tests.ade import HTMX
from tests.factories import make_agent as build_agent


def test_the_list_shows_only_the_users_own_agents(signed_in, make_agent, stranger):
    make_agent(name="mine")
    build_agent(stranger, name="theirs")
    body = signed_in.get(reverse("agents:list")).content.decode()
    assert "mine" in body
    assert "theirs" not in body


def test_a_row_shows_model_sleeptime_and_block_count(signed_in, make_agent):
    make_agent(name="dreamer", model="openai/gpt-4.1-mini", enable_sleeptime=True)
    make_agent(name="plain", blocks={"persona": "p", "human": "h", "notes": "n"})
    body = signed_in.get(reverse("agents:list")).content.decode()
    assert "openai/gpt-4.1-mini" in body
    assert '<span class="badge on">on</span>' in body
    assert '<span class="badge off">off</span>' in body
    assert '<td class="num">3</td>' in body
    # The sleep-time agent shows on its primary's page, not in the list.
    assert "dreamer-sleeptime" not in body


def test_the_search_filters_the_full_page_by_name(signed_in, make_agent):
    make_agent(name="support-bot")
    make_agent(name="research-bot")
    response = signed_in.get(reverse("agents:list"), {"q": "SUPPORT"})
    body = response.content.decode()
    assert "support-bot" in body
    assert "research-bot" not in body
    assert "<html" in body
    assert 'value="SUPPORT"' in body


def test_an_htmx_search_answers_with_the_rows_only(signed_in, make_agent):
    make_agent(name="support-bot")
    make_agent(name="research-bot")
    response = signed_in.get(reverse("agents:list"), {"q": "research"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "<tbody" not in body
    assert "research-bot" in body
    assert "support-bot" not in body
    assert "HX-Request" in response["Vary"]


def test_a_search_without_matches_says_so(signed_in, make_agent):
    make_agent(name="support-bot")
    body = signed_in.get(reverse("agents:list"), {"q": "zzz"}, **HTMX).content.decode()
    assert "No agent" in body and "zzz" in body


def test_a_history_restore_gets_the_whole_page(signed_in, make_agent):
    make_agent(name="support-bot")
    response = signed_in.get(
        reverse("agents:list"), {"q": "support"}, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX
    )
    assert "<html" in response.content.decode()


def test_the_search_box_is_wired_to_htmx(signed_in):
    body = signed_in.get(reverse("agents:list")).content.decode()
    assert 'hx-get="/agents/"' in body
    assert 'hx-trigger="keyup changed delay:300ms, search"' in body
    assert 'hx-target="#agent-rows"' in body


def test_agent_names_are_escaped_in_the_list(signed_in, make_agent):
    agent = make_agent(name="plain")
    # Names are validated by the service; a stored one could still come from elsewhere.
    type(agent).objects.filter(pk=agent.pk).update(name="<script>alert(1)</script>")
    body = signed_in.get(reverse("agents:list")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
