"""Blocks edited in the Django admin obey the same rules as the API."""

from __future__ import annotations

from memory.models import Block


def _form(user, **overrides):
    data = {
        "label": "notes",
        "value": "first",
        "limit": 20,
        "description": "",
        "metadata": "{}",
        "deletion_budget": 0.3,  # the form shows the default; a browser sends it
        "owner": user.pk,
        "versions-TOTAL_FORMS": 0,
        "versions-INITIAL_FORMS": 0,
    }
    data.update(overrides)
    return data


def test_a_block_added_in_the_admin_gets_its_first_version(admin_client, admin_user):
    response = admin_client.post("/admin/memory/block/add/", _form(admin_user))
    assert response.status_code == 302, response.content
    block = Block.objects.get(label="notes")
    version = block.versions.get()
    assert (version.value, version.actor_type, version.actor_user) == ("first", "user", admin_user)


def test_an_over_limit_value_in_the_admin_is_shown_as_an_error_and_saves_nothing(
    admin_client, admin_user
):
    admin_client.post("/admin/memory/block/add/", _form(admin_user))
    block = Block.objects.get(label="notes")
    response = admin_client.post(
        f"/admin/memory/block/{block.pk}/change/", _form(admin_user, value="x" * 21)
    )
    assert response.status_code == 200
    assert b"character limit" in response.content
    block.refresh_from_db()
    assert block.value == "first" and block.versions.count() == 1


def test_an_admin_edit_is_recorded_as_a_version(admin_client, admin_user):
    admin_client.post("/admin/memory/block/add/", _form(admin_user))
    block = Block.objects.get(label="notes")
    admin_client.post(f"/admin/memory/block/{block.pk}/change/", _form(admin_user, value="second"))
    block.refresh_from_db()
    assert block.value == "second"
    latest = block.versions.order_by("-number").first()
    assert (latest.previous_value, latest.value) == ("first", "second")


def test_a_blocks_admin_page_shows_its_history_as_escaped_diffs(admin_client, admin_user):
    from memory.services import Actor, create_block, update_block

    block = create_block(admin_user, label="notes", value="Name: Ada")
    update_block(block.id, actor=Actor.for_user(admin_user), value="Name: <b>Grace</b>")
    page = admin_client.get(f"/admin/memory/block/{block.pk}/change/").content.decode()
    assert "-Name: Ada" in page
    assert "+Name: &lt;b&gt;Grace&lt;/b&gt;" in page
    assert "<b>Grace</b>" not in page


def test_every_model_has_an_admin_list_page(admin_client):
    for path in [
        "agents/agent",
        "agents/message",
        "agents/group",
        "agents/run",
        "agents/insight",
        "memory/block",
        "memory/passage",
        "sources/source",
        "sources/sourcefile",
        "accounts/apikey",
    ]:
        assert admin_client.get(f"/admin/{path}/").status_code == 200, path
