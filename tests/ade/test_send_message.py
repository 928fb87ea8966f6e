from __future__ import annotations

from django.urls import reverse

from tests.ade import HTMX


def _send(client, agent, text="hello there", **extra):
    return client.post(reverse("agents:send_message", args=[agent.id]), {"text": text}, **extra)


def test_an_htmx_message_answers_with_the_new_messages_and_a_fresh_form(signed_in, make_agent, llm):
    agent = make_agent()
    response = _send(signed_in, agent, "hello there", **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert '<div class="text">hello there</div>' in body
    assert '<div class="text">echo: hello there</div>' in body
    # The form comes back empty, out of band, so the next message starts from scratch.
    assert 'id="message-form"' in body and 'hx-swap-oob="true"' in body
    assert [m.role for m in agent.messages.order_by("seq")] == ["user", "assistant", "tool"]


def test_only_the_new_turn_comes_back(signed_in, make_agent, llm):
    agent = make_agent()
    _send(signed_in, agent, "first", **HTMX)
    body = _send(signed_in, agent, "second", **HTMX).content.decode()
    assert "echo: second" in body
    assert "first" not in body


def test_a_plain_form_post_is_redirected_back_to_the_page(signed_in, make_agent, llm):
    agent = make_agent()
    response = _send(signed_in, agent, "hello there")
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=[agent.id]) + "#chat"
    page = signed_in.get(response["Location"]).content.decode()
    assert "echo: hello there" in page


def test_the_reply_is_escaped(signed_in, make_agent, llm):
    agent = make_agent()
    body = _send(signed_in, agent, "<img src=x onerror=alert(1)>", **HTMX).content.decode()
    assert "<img src=x" not in body
    assert "echo: &lt;img src=x onerror=alert(1)&gt;" in body


def test_an_unconfigured_provider_is_a_clear_error_and_stores_nothing(
    signed_in, make_agent, monkeypatch
):
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    agent = make_agent(model="nowhere/some-model")
    response = _send(signed_in, agent, "hello there", **HTMX)
    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps 2xx answers only
    assert response["HX-Retarget"] == "#message-form"
    assert response["HX-Reswap"] == "outerHTML"
    assert "The model provider &#x27;nowhere&#x27; is not configured" in body
    assert "NOWHERE_API_KEY" in body
    assert "hello there</textarea>" in body  # the text is kept for a retry
    assert not agent.messages.exists()


def test_an_unconfigured_provider_without_htmx_shows_the_page_with_the_error(
    signed_in, make_agent, monkeypatch
):
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    agent = make_agent(model="nowhere/some-model")
    response = _send(signed_in, agent, "hello there")
    body = response.content.decode()
    assert response.status_code == 400
    assert "<html" in body
    assert "is not configured" in body
    assert not agent.messages.exists()


def test_an_empty_message_is_refused_without_a_turn(signed_in, make_agent, llm):
    agent = make_agent()
    response = _send(signed_in, agent, "", **HTMX)
    assert "This field is required." in response.content.decode()
    assert not agent.messages.exists()
    assert not llm.requests


def test_a_failing_model_shows_the_turn_error_in_the_chat(signed_in, make_agent, llm):
    agent = make_agent()
    llm.fail(status=400, message="the model refused", times=5)
    body = _send(signed_in, agent, "hello there", **HTMX).content.decode()
    assert '<div class="text">hello there</div>' in body
    assert "The turn ended with an error" in body


def test_sending_needs_a_post(signed_in, make_agent):
    agent = make_agent()
    response = signed_in.get(reverse("agents:send_message", args=[agent.id]))
    assert response.status_code == 405
