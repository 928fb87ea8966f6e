"""A block's history: every change is a numbered version, with a diff, and can be undone."""

from __future__ import annotations

from typing import Any

import pytest

from config.errors import InvalidRequest, NotFound
from memory import services as memory_services
from memory.models import Block
from memory.services import Actor


def block_with_history(user: Any, *values: str, limit: int | None = None) -> Block:
    """A block created with the first value, then changed to each of the others in turn."""
    block = memory_services.create_block(user, label="human", value=values[0], limit=limit)
    for value in values[1:]:
        block = memory_services.update_block(block.id, actor=Actor.for_user(user), value=value)
    return block


def numbers(block: Block) -> list[int]:
    return [version.number for version in memory_services.block_history(block)]


def test_history_lists_versions_newest_first(user):
    block = block_with_history(user, "Likes: tea", "Likes: coffee", "Likes: water")

    history = memory_services.block_history(block)

    assert [version.number for version in history] == [3, 2, 1]
    assert [version.value for version in history] == ["Likes: water", "Likes: coffee", "Likes: tea"]
    assert history[0].previous_value == "Likes: coffee"
    assert history[-1].previous_value == ""
    assert all(version.actor_type == "user" and version.actor_user == user for version in history)


def test_history_can_be_read_oldest_first_and_paged_by_number(user):
    block = block_with_history(user, "a", "b", "c", "d")

    assert [v.number for v in memory_services.block_history(block, ascending=True)] == [1, 2, 3, 4]
    assert [v.number for v in memory_services.block_history(block, before=3)] == [2, 1]
    assert [v.number for v in memory_services.block_history(block, limit=2)] == [4, 3]


def test_each_version_diffs_against_the_one_before(user):
    block = block_with_history(user, "Name: Ada\nLikes: tea", "Name: Ada\nLikes: coffee")
    newest, first = memory_services.block_history(block)

    diff = memory_services.version_diff(newest).splitlines()

    assert diff[:2] == ["--- human@1", "+++ human@2"]
    assert "-Likes: tea" in diff
    assert "+Likes: coffee" in diff
    assert " Name: Ada" in diff
    creation = memory_services.version_diff(first).splitlines()
    assert creation[:2] == ["--- human@0", "+++ human@1"]
    assert "+Likes: tea" in creation


def test_reverting_to_an_old_version_adds_a_new_version_with_its_value(user):
    block = block_with_history(user, "Likes: tea", "Likes: coffee", "Likes: water")

    reverted = memory_services.revert_block(block.id, 1, Actor.for_user(user))

    assert reverted.value == "Likes: tea"
    block.refresh_from_db()
    assert block.value == "Likes: tea"
    assert block.version == 4
    assert numbers(block) == [4, 3, 2, 1]  # linear: nothing was rewritten or dropped
    newest = memory_services.block_history(block)[0]
    assert newest.reverts == "version:1"
    assert newest.previous_value == "Likes: water"
    assert newest.value == "Likes: tea"
    assert newest.actor_user == user


def test_a_revert_can_itself_be_reverted(user):
    block = block_with_history(user, "Likes: tea", "Likes: coffee")
    memory_services.revert_block(block.id, 1, Actor.for_user(user))

    memory_services.revert_block(block.id, 2, Actor.for_user(user))

    block.refresh_from_db()
    assert block.value == "Likes: coffee"
    assert numbers(block) == [4, 3, 2, 1]
    assert memory_services.block_history(block)[0].reverts == "version:2"


def test_reverting_to_the_value_the_block_already_holds_adds_no_version(user):
    block = block_with_history(user, "Likes: tea", "Likes: coffee")

    memory_services.revert_block(block.id, 2, Actor.for_user(user))

    block.refresh_from_db()
    assert block.value == "Likes: coffee"
    assert numbers(block) == [2, 1]


def test_reverting_to_a_version_longer_than_the_current_limit_is_refused(user):
    long_value = "Likes: " + "tea, " * 15  # 82 characters
    block = block_with_history(user, long_value, "Likes: tea", limit=100)
    memory_services.update_block(block.id, actor=Actor.for_user(user), limit=50)

    with pytest.raises(InvalidRequest, match="limit"):
        memory_services.revert_block(block.id, 1, Actor.for_user(user))

    block.refresh_from_db()
    assert block.value == "Likes: tea"
    assert block.limit == 50
    assert numbers(block) == [3, 2, 1]


def test_reverting_to_an_unknown_version_is_not_found(user):
    block = block_with_history(user, "Likes: tea", "Likes: coffee")

    with pytest.raises(NotFound):
        memory_services.revert_block(block.id, 7, Actor.for_user(user))

    block.refresh_from_db()
    assert block.value == "Likes: coffee"
    assert numbers(block) == [2, 1]


def test_reverting_a_block_that_does_not_exist_is_not_found(user):
    with pytest.raises(NotFound):
        memory_services.revert_block("block-does-not-exist", 1, Actor.for_user(user))
