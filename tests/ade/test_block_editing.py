"""Editing a memory block in place on the agent page: the form replaces the block, saving
puts the block back with its new value, a refused edit shows why and saves nothing, and an
edit made while an agent changed other lines keeps both."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse

from memory import services as memory_services
from memory.models import Block
from memory.services import Actor
from tests.ade import HTMX
from tests.factories import make_agent as build_agent


def _block(agent: Any, label: str = "human") -> Block:
    return memory_services.get_agent_block(agent, label)


def _edit_url(block: Block) -> str:
    return reverse("memory:block_edit", args=[block.id])


def _post(client: Any, block: Block, **fields: Any) -> Any:
    data = {
        "value": block.value,
        "description": block.description,
        "limit": block.limit,
        "base_version": block.version,
    }
    data.update(fields)
    extra = data.pop("extra", {})
    return client.post(_edit_url(block), data, **extra)


# --- The links on the agent page -------------------------------------------------------------


def test_each_block_on_the_agent_page_links_to_its_editor_and_its_history(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    body = signed_in.get(reverse("agents:detail", args=[agent.id])).content.decode()
    assert f'href="{_edit_url(block)}"' in body
    assert f'hx-get="{_edit_url(block)}" hx-target="closest .block" hx-swap="outerHTML"' in body
    assert f'href="{reverse("memory:block_history", args=[block.id])}"' in body


def test_the_block_partial_still_renders_alone_for_live_updates(make_agent):
    agent = make_agent(blocks={"human": "Name: Ada\nLikes: tea"})
    block = _block(agent)
    lines = [{"text": "Name: Ada", "changed": False}, {"text": "Likes: tea", "changed": True}]
    html = render_to_string(
        "agents/partials/_block.html", {"block": block, "oob": True, "lines": lines}
    )
    assert html.lstrip().startswith(f'<article class="block" id="{block.id}"')
    assert 'hx-swap-oob="true"' in html
    assert '<span class="line changed">Likes: tea</span>' in html
    assert f'href="{_edit_url(block)}"' in html
    assert "autofocus" not in html  # a live update never steals the focus


# --- The form ------------------------------------------------------------------------------


def test_htmx_gets_the_form_in_place_of_the_block(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada\nLikes: <tea>"})
    block = _block(agent)
    response = signed_in.get(_edit_url(block), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    assert "<html" not in body
    assert body.lstrip().startswith('<form class="block block-form" id="' + block.id + '"')
    assert f'hx-post="{_edit_url(block)}"' in body
    assert f'action="{_edit_url(block)}"' in body  # the fallback of hx-post
    assert "Name: Ada\nLikes: &lt;tea&gt;</textarea>" in body
    assert f'name="base_version" value="{block.version}"' in body
    assert f'name="limit" value="{block.limit}"' in body
    assert f'hx-get="{reverse("memory:block_detail", args=[block.id])}"' in body  # Cancel
    # A live update of this block must not swap the editor away with the unsaved text.
    assert 'hx-on:htmx:oob-before-swap="event.detail.shouldSwap = false' in body


def test_without_htmx_the_form_is_a_whole_page_that_returns_where_it_came_from(
    signed_in, make_agent
):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    agent_page = reverse("agents:detail", args=[agent.id])
    response = signed_in.get(_edit_url(block), HTTP_REFERER=f"http://testserver{agent_page}")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body and "<h1>Edit <code>human</code></h1>" in body
    assert f'name="next" value="{agent_page}"' in body
    assert f'<a class="button" href="{agent_page}"' in body  # Cancel without script


def test_the_form_of_a_read_only_block_shows_the_marker(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    memory_services.update_block(block.id, actor=Actor.for_user(agent.owner), read_only=True)
    body = signed_in.get(_edit_url(block), **HTMX).content.decode()
    assert "block-read-only" in body and ">read-only</span>" in body


def test_two_open_editors_on_one_page_have_distinct_field_ids(signed_in, make_agent):
    agent = make_agent(blocks={"human": "", "persona": ""})
    human = signed_in.get(_edit_url(_block(agent, "human")), **HTMX).content.decode()
    persona = signed_in.get(_edit_url(_block(agent, "persona")), **HTMX).content.decode()
    assert f'id="{_block(agent, "human").id}-value"' in human
    assert f'id="{_block(agent, "persona").id}-value"' in persona


# --- Saving --------------------------------------------------------------------------------


def test_an_htmx_save_answers_with_the_block_showing_its_new_value(signed_in, user, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    response = _post(
        signed_in,
        block,
        value="Name: Ada\nLikes: <b>tea</b>",
        description="About the human",
        extra=HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<article class="block" id="{block.id}"')
    assert "Likes: &lt;b&gt;tea&lt;/b&gt;" in body
    assert "About the human" in body
    block.refresh_from_db()
    assert block.value == "Name: Ada\nLikes: <b>tea</b>"
    assert block.description == "About the human"
    newest = memory_services.block_history(block, limit=1)[0]
    assert newest.number == block.version == 2
    assert newest.actor_type == "user" and newest.actor_user == user
    assert newest.previous_value == "Name: Ada"


def test_a_plain_save_is_redirected_to_next(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    agent_page = reverse("agents:detail", args=[agent.id])
    response = _post(signed_in, block, value="Name: Grace", next=agent_page)
    assert response.status_code == 302
    assert response["Location"] == agent_page
    page = signed_in.get(agent_page).content.decode()
    assert "Saved human." in page and "Name: Grace" in page


def test_a_plain_save_without_a_safe_next_goes_to_the_history(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    response = _post(signed_in, block, value="Name: Grace", next="https://evil.example/")
    assert response.status_code == 302
    assert response["Location"] == reverse("memory:block_history", args=[block.id])


def test_browser_line_endings_are_stored_as_newlines(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    _post(signed_in, block, value="Name: Ada\r\nLikes: tea\r\n", extra=HTMX)
    block.refresh_from_db()
    assert block.value == "Name: Ada\nLikes: tea\n"


def test_a_read_only_block_can_still_be_edited_by_its_owner(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = memory_services.update_block(
        _block(agent).id, actor=Actor.for_user(agent.owner), read_only=True
    )
    body = _post(signed_in, block, value="Name: Grace", extra=HTMX).content.decode()
    assert "Name: Grace" in body and ">read-only</span>" in body
    block.refresh_from_db()
    assert block.value == "Name: Grace" and block.read_only


def test_an_edit_over_the_limit_shows_the_error_in_place_and_saves_nothing(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"}, human_limit=20)
    block = _block(agent)
    too_long = "x" * 25
    response = _post(signed_in, block, value=too_long, extra=HTMX)
    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps 2xx answers only
    assert body.lstrip().startswith('<form class="block block-form" id="' + block.id + '"')
    assert "Exceeds 20 character limit (requested 25)" in body
    assert f"{too_long}</textarea>" in body  # the person's text is not lost
    block.refresh_from_db()
    assert block.value == "Name: Ada" and block.version == 1
    assert block.versions.count() == 1

    plain = _post(signed_in, block, value=too_long)
    assert plain.status_code == 400
    assert "<html" in plain.content.decode()
    assert "Exceeds 20 character limit" in plain.content.decode()
    assert block.versions.count() == 1


def test_an_edit_from_an_older_version_keeps_an_agents_edit_on_other_lines(
    signed_in, user, make_agent
):
    agent = make_agent(blocks={"human": "Name: Ada\nLikes: tea"})
    block = _block(agent)
    opened = block.version
    # While the editor is open, the agent changes another line.
    memory_services.edit_block_as_agent(
        agent,
        "human",
        lambda value: value.replace("Likes: tea", "Likes: coffee"),
        Actor.for_agent(agent.id, run_id="run-1"),
    )
    response = _post(
        signed_in, block, value="Name: Ada Lovelace\nLikes: tea", base_version=opened, extra=HTMX
    )
    assert response.status_code == 200
    block.refresh_from_db()
    assert block.value == "Name: Ada Lovelace\nLikes: coffee"
    assert "Name: Ada Lovelace\nLikes: coffee" in response.content.decode()
    assert [v.actor_type for v in memory_services.block_history(block)] == [
        "user",
        "agent",
        "user",
    ]


def test_an_edit_of_the_same_lines_made_meanwhile_is_shown_and_nothing_is_lost(
    signed_in, make_agent
):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    opened = block.version
    memory_services.edit_block_as_agent(
        agent,
        "human",
        lambda value: value.replace("Ada", "Ada Lovelace"),
        Actor.for_agent(agent.id, run_id="run-1"),
    )

    response = _post(signed_in, block, value="Name: Grace", base_version=opened, extra=HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "cannot be merged with; nothing was saved" in body
    assert '<pre class="block-value">Name: Ada Lovelace</pre>' in body  # theirs, shown
    assert "Name: Grace</textarea>" in body  # the person's text, kept in the editor
    block.refresh_from_db()
    assert block.value == "Name: Ada Lovelace"
    # The form now starts from the current version: saving again is the person's decision.
    assert f'name="base_version" value="{block.version}"' in body
    again = _post(
        signed_in,
        block,
        value="Name: Grace (was Ada Lovelace)",
        base_version=block.version,
        extra=HTMX,
    )
    assert again.status_code == 200
    block.refresh_from_db()
    assert block.value == "Name: Grace (was Ada Lovelace)"


def test_a_field_left_alone_does_not_undo_a_change_made_meanwhile(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    opened = Block.objects.get(pk=block.pk)
    memory_services.update_block(block.id, actor=Actor.for_user(agent.owner), limit=9000)
    _post(signed_in, opened, value="Name: Grace", extra=HTMX)
    block.refresh_from_db()
    assert block.value == "Name: Grace"
    assert block.limit == 9000


def test_saving_an_untouched_form_records_no_version(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    response = _post(signed_in, block, extra=HTMX)
    assert response.status_code == 200
    assert block.versions.count() == 1


def test_an_unknown_base_version_shows_the_current_text_to_merge_with(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    response = _post(signed_in, block, value="Name: Grace", base_version=99, extra=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "cannot be merged with; nothing was saved" in body
    assert "Name: Grace" in body and "Name: Ada" in body
    block.refresh_from_db()
    assert block.value == "Name: Ada"


# --- Cancel, access ------------------------------------------------------------------------


def test_cancel_puts_the_block_back(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = _block(agent)
    url = reverse("memory:block_detail", args=[block.id])
    response = signed_in.get(url, **HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith(f'<article class="block" id="{block.id}"')
    plain = signed_in.get(url)
    assert plain.status_code == 302
    assert plain["Location"] == reverse("memory:block_history", args=[block.id])


def test_another_persons_block_is_not_found(signed_in, stranger):
    theirs = _block(build_agent(stranger, blocks={"human": "Name: Ada"}))
    assert signed_in.get(_edit_url(theirs)).status_code == 404
    assert signed_in.get(_edit_url(theirs), **HTMX).status_code == 404
    assert signed_in.get(reverse("memory:block_detail", args=[theirs.id])).status_code == 404
    assert _post(signed_in, theirs, value="mine now").status_code == 404
    theirs.refresh_from_db()
    assert theirs.value == "Name: Ada" and theirs.versions.count() == 1


def test_the_editor_needs_a_signed_in_person(client, make_agent):
    block = _block(make_agent(blocks={"human": "Name: Ada"}))
    response = client.get(_edit_url(block))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
