"""Commits that do not wait for the disk (config/transactions.py): where they apply, and
that a turn leaves its connection as it found it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from agents.loop import InputMessage
from agents.services import send_message
from config.transactions import commit_without_flush, commits_without_flush

pytestmark = pytest.mark.django_db(transaction=True)


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def test_commits_inside_the_block_do_not_wait_for_the_disk_and_later_ones_do():
    with commits_without_flush():
        assert synchronous_commit() == "off"

    assert synchronous_commit() == "on"


def test_inside_a_transaction_the_block_leaves_the_commit_to_the_transaction():
    with transaction.atomic(), commits_without_flush():
        assert synchronous_commit() == "on"


def test_a_transaction_can_commit_without_waiting_unless_it_is_nested():
    with transaction.atomic():
        commit_without_flush()
        assert synchronous_commit() == "off"
    assert synchronous_commit() == "on"

    with transaction.atomic(), transaction.atomic():
        commit_without_flush()
        assert synchronous_commit() == "on"


def test_a_turn_leaves_its_connection_committing_synchronously(make_agent, llm):
    agent = make_agent()

    result = send_message(agent, [InputMessage(role="user", content="hi")])

    assert result.stop_reason == "end_turn"
    assert synchronous_commit() == "on"


def test_a_turn_that_fails_leaves_its_connection_committing_synchronously(make_agent, llm):
    agent = make_agent()
    llm.fail(500, times=5)

    result = send_message(agent, [InputMessage(role="user", content="hi")])

    assert result.stop_reason == "error"
    assert synchronous_commit() == "on"
