"""Forgetting archival passages, by id or by text, and the records that quote them."""

from __future__ import annotations

import pytest

from config.errors import InvalidRequest, NotFound
from forgetting.models import Tombstone
from forgetting.services import purge_passages
from memory.models import Passage
from sources import services as source_services
from tests.factories import make_agent as build_agent
from tests.factories import passage, say
from tests.forgetting.support import contents, grep_database


def test_passages_given_by_id_are_deleted_and_others_stay(make_agent):
    agent = make_agent()
    doomed = passage(agent, "The locker combination is left-right-left")
    kept = passage(agent, "The office opens at nine")

    tombstone = purge_passages(agent, who="7", passage_ids=[doomed.id])

    assert list(Passage.objects.values_list("pk", flat=True)) == [kept.pk]
    assert tombstone.details == {"passages": 1}


def test_a_text_deletes_the_passages_that_contain_it_including_a_sources(make_agent, user):
    agent = make_agent()
    mine = passage(agent, "Budget for ORION is two million")
    source = source_services.create_source(user, name="plans")
    source_services.attach_source(agent, source)
    theirs = passage(agent, "Orion launches in May")
    Passage.objects.filter(pk=theirs.pk).update(agent=None, source=source)
    unrelated = passage(agent, "The office opens at nine")

    purge_passages(agent, who="7", text="orion")

    assert set(Passage.objects.values_list("pk", flat=True)) == {unrelated.pk}
    assert not Passage.objects.filter(pk__in=[mine.pk, theirs.pk]).exists()


def test_the_tool_call_and_search_results_that_quoted_a_passage_are_rewritten(make_agent, llm):
    agent = make_agent()
    text = 'The "locker" combination is left-right-left'
    llm.tool_call("archival_memory_insert", {"content": text})
    say(agent, "store it")
    llm.tool_call("archival_memory_search", {"query": "locker"})
    say(agent, "what was it?")
    (stored,) = Passage.objects.filter(agent=agent)
    assert len(grep_database("left-right-left")) == 2  # the passage and the messages

    purge_passages(agent, who="7", passage_ids=[stored.id])

    assert grep_database("left-right-left") == {}
    assert "store it" in contents(agent)


def test_a_passage_of_another_agent_is_not_found_and_nothing_is_deleted(make_agent, user):
    agent = make_agent()
    other = build_agent(user, name="other")
    theirs = passage(other, "Not yours to forget")
    mine = passage(agent, "Mine")

    with pytest.raises(NotFound):
        purge_passages(agent, who="7", passage_ids=[mine.id, theirs.id])

    assert Passage.objects.count() == 2
    assert not Tombstone.objects.exists()


@pytest.mark.parametrize("selection", [{}, {"text": "abc", "passage_ids": ["x"]}, {"text": "a"}])
def test_passages_need_ids_or_a_text(make_agent, selection):
    with pytest.raises(InvalidRequest):
        purge_passages(make_agent(), who="7", **selection)
