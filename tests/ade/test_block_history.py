"""A block's history page: every version newest first with who made it and its diff, a
revert button per older version, pages of fifty, and a query count that does not grow
with the number of versions."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from memory import services as memory_services
from memory.models import Block
from memory.services import Actor
from tests.factories import make_agent as build_agent


def _history_url(block: Block, **query: Any) -> str:
    url = reverse("memory:block_history", args=[block.id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _block_with_versions(user: Any, count: int, *, limit: int | None = None) -> Block:
    block = memory_services.create_block(user, label="human", value="line 1", limit=limit)
    for number in range(2, count + 1):
        block = memory_services.update_block(
            block.id, actor=Actor.for_user(user), value=f"{block.value}\nline {number}"
        )
    return block


def _revert(client: Any, block: Block, number: int) -> Any:
    return client.post(reverse("memory:block_revert", args=[block.id]), {"version": number})


def test_the_history_lists_versions_newest_first_with_actors_and_diffs(signed_in, user):
    block = memory_services.create_block(user, label="human", value="Name: Ada\nLikes: tea")
    memory_services.update_block(
        block.id,
        actor=Actor.for_agent("agent-123", run_id="run-456"),
        value="Name: Ada\nLikes: coffee",
    )
    memory_services.update_block(
        block.id, actor=Actor.for_user(user), value="Name: Ada Lovelace\nLikes: coffee"
    )
    response = signed_in.get(_history_url(block))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index("Version 3") < body.index("Version 2") < body.index("Version 1")
    assert f"by {user.get_username()}" in body
    assert "by agent <code>agent-123</code>" in body
    assert '<a href="/runs/run-456/"><code>run-456</code></a>' in body
    assert '<div class="diff-line diff-removed">-Likes: tea</div>' in body
    assert '<div class="diff-line diff-added">+Likes: coffee</div>' in body
    assert '<div class="diff-line diff-context"> Name: Ada</div>' in body
    assert '<div class="diff-line diff-hunk">@@ -1,2 +1,2 @@</div>' in body
    # The creation adds its lines; the empty line an empty value splits into is no change.
    assert '<div class="diff-line diff-removed">-</div>' not in body
    assert "--- human@" not in body and "+++ human@" not in body
    # Every version but the current one can be put back.
    assert body.count("Revert to this version") == 2
    assert 'name="version" value="3"' not in body
    assert 'name="version" value="1"' in body


def test_diffs_show_markup_as_text(signed_in, user):
    block = memory_services.create_block(user, label="human", value="safe")
    memory_services.update_block(
        block.id, actor=Actor.for_user(user), value="<script>alert('x')</script>"
    )
    body = signed_in.get(_history_url(block)).content.decode()
    assert "<script>alert" not in body
    assert "+&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body


def test_a_revert_puts_the_old_value_back_as_a_new_version(signed_in, user):
    block = _block_with_versions(user, 3)
    response = _revert(signed_in, block, 1)
    assert response.status_code == 302
    assert response["Location"] == _history_url(block)
    block.refresh_from_db()
    assert block.value == "line 1"
    newest = memory_services.block_history(block, limit=1)[0]
    assert newest.number == block.version == 4
    assert newest.reverts == "version:1"
    assert newest.actor_type == "user" and newest.actor_user == user
    page = signed_in.get(response["Location"]).content.decode()
    assert "Reverted human to version 1, as version 4." in page
    assert "Put back the value of version 1." in page


def test_a_refused_revert_says_why_and_changes_nothing(signed_in, user):
    block = _block_with_versions(user, 3)
    memory_services.update_block(block.id, actor=Actor.for_user(user), value="x", limit=5)
    response = _revert(signed_in, block, 3)
    assert response.status_code == 302
    page = signed_in.get(response["Location"]).content.decode()
    assert "more than the block&#x27;s current limit of 5; raise the limit first." in page
    block.refresh_from_db()
    assert block.value == "x" and block.version == 4


def test_a_revert_to_a_missing_version_or_someone_elses_block_is_not_found(
    signed_in, user, stranger
):
    block = _block_with_versions(user, 2)
    assert _revert(signed_in, block, 99).status_code == 404
    theirs = memory_services.get_agent_block(build_agent(stranger, blocks={"human": "a"}), "human")
    assert _revert(signed_in, theirs, 1).status_code == 404
    assert signed_in.get(_history_url(theirs)).status_code == 404
    assert theirs.versions.count() == 1


def test_the_history_pages_by_fifty_versions(signed_in, user):
    block = _block_with_versions(user, 60)
    first = signed_in.get(_history_url(block)).content.decode()
    assert "<h2>Version 60</h2>" in first and "<h2>Version 11</h2>" in first
    assert "<h2>Version 10</h2>" not in first
    assert 'href="?before=11"' in first
    assert "Newest versions" not in first

    second = signed_in.get(_history_url(block, before=11)).content.decode()
    assert "<h2>Version 10</h2>" in second and "<h2>Version 1</h2>" in second
    assert "<h2>Version 11</h2>" not in second
    assert "?before=" not in second
    assert "Newest versions" in second

    assert "<h2>Version 60</h2>" in signed_in.get(_history_url(block, before="x")).content.decode()


def test_the_history_costs_the_same_queries_for_two_and_ten_versions(
    signed_in, user, django_assert_num_queries
):
    block = _block_with_versions(user, 2)
    with CaptureQueriesContext(connection) as captured:
        assert signed_in.get(_history_url(block)).status_code == 200
    two = len(captured.captured_queries)

    block = _block_with_versions(user, 10)
    with django_assert_num_queries(two):
        response = signed_in.get(_history_url(block))
    assert response.content.decode().count('class="version"') == 10
