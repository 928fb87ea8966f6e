"""Forgetting an agent's messages: by text, by ids, by range, all; what follows them out
(transcripts, sleep-time inputs, summaries), and that the agent still answers after."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from agents import runs
from agents.models import Agent, Message, Run
from config.errors import InvalidRequest, NotFound
from forgetting.models import Tombstone
from forgetting.services import purge_messages
from tests.factories import pair, say
from tests.forgetting.support import contents, grep_database


def stored(agent: Agent) -> list[Message]:
    return list(Message.objects.filter(agent=agent).order_by("seq"))


def every_tool_call_is_answered(request: dict) -> bool:
    """What providers insist on: each tool call is followed by its result."""
    messages = request["messages"]
    for index, message in enumerate(messages):
        for call in message.get("tool_calls") or []:
            following = messages[index + 1 : index + 1 + len(message["tool_calls"])]
            if call["id"] not in {m.get("tool_call_id") for m in following}:
                return False
    return True


def test_messages_that_mention_a_text_in_any_case_are_deleted_and_the_rest_stay(make_agent, llm):
    agent = make_agent()
    say(agent, "My project is Zephyr")
    say(agent, "What is the weather like?")

    tombstone = purge_messages(agent, who="7", text="zEPHYR")

    remaining = contents(agent)
    assert not any("zephyr" in text.lower() for text in remaining)
    assert "What is the weather like?" in remaining
    # The user's message and the reply quoting it; the bare "sent" result stays.
    assert tombstone.details["messages"] == 2
    assert (tombstone.kind, tombstone.who, tombstone.agent_id) == ("messages", "7", agent.id)
    assert not any(table == "agents_message" for table in grep_database("zephyr"))


def test_a_range_that_cuts_a_tool_call_from_its_result_leaves_the_agent_answering(make_agent, llm):
    agent = make_agent()
    for text in ("first", "second", "third"):
        say(agent, text)
    messages = stored(agent)  # user, assistant (send_message), tool result; three times
    cut_from, cut_to = messages[5], messages[6]  # turn 2's result, turn 3's question

    tombstone = purge_messages(
        agent, who="7", start_message_id=cut_from.uid, end_message_id=cut_to.uid
    )

    assert tombstone.details["messages"] == 2
    assert [m.seq for m in stored(agent)] == [m.seq for m in messages[:5] + messages[7:]]
    result = say(agent, "fourth")
    assert result.stop_reason == "end_turn"
    request = llm.main.last_request
    assert every_tool_call_is_answered(request)
    assert "The tool call was interrupted." in json.dumps(request)  # turn 2's call


def test_a_date_range_deletes_the_messages_written_in_it(make_agent, llm):
    agent = make_agent()
    say(agent, "old news")
    say(agent, "new news")
    earlier = timezone.now() - timedelta(days=3)
    Message.objects.filter(agent=agent, seq__in=[m.seq for m in stored(agent)[:3]]).update(
        created_at=earlier
    )

    purge_messages(agent, who="7", start_date=earlier - timedelta(hours=1), end_date=earlier)

    assert "old news" not in contents(agent)
    assert "new news" in contents(agent)


def test_forgetting_all_messages_drops_the_summaries_and_the_next_turn_works(make_agent, llm):
    primary, sleeper, _ = pair(make_agent)
    say(primary, "hello")
    Agent.objects.filter(pk__in=[primary.pk, sleeper.pk]).update(summary="They said hello.")

    tombstone = purge_messages(primary, who="7", everything=True)

    assert stored(primary) == []
    assert list(
        Agent.objects.filter(pk__in=[primary.pk, sleeper.pk]).values_list("summary", flat=True)
    ) == ["", ""]
    assert tombstone.details == {"messages": 3, "summaries_dropped": 2}
    assert say(primary, "hello again").stop_reason == "end_turn"
    assert len(stored(primary)) == 3


def test_deleted_messages_leave_the_transcripts_and_inputs_of_the_runs_that_read_them(
    make_agent, llm
):
    primary, sleeper, _ = pair(make_agent)
    say(primary, "I grow heirloom tomatoes every summer")
    say(primary, "My cat is called Biscuit")
    (run,) = Run.objects.filter(primary_agent=primary, status="created")
    assert runs.execute_run(run.id) == "completed"
    question = next(m for m in stored(primary) if m.content.startswith("I grow"))

    tombstone = purge_messages(primary, who="7", message_ids=[question.uid])

    run.refresh_from_db()
    (read,) = Message.objects.filter(agent=sleeper, run_id=run.id, role="user")
    for text in (run.transcript, read.content):
        assert "heirloom" not in text  # the line, and the reply quoting it
        assert "user: My cat is called Biscuit" in text
    assert "heirloom" not in str(stored(primary)[0].tool_calls)
    assert tombstone.details["transcripts"] == 1
    assert grep_database("heirloom tomatoes") == {}


def test_deleting_summarised_messages_drops_the_summary_and_a_text_is_rewritten_in_it(
    make_agent, llm
):
    agent = make_agent()
    say(agent, "Remember the code word Marigold")
    say(agent, "And the weather")
    first_turn = [m.seq for m in stored(agent)[:3]]
    Message.objects.filter(seq__in=first_turn).update(in_context=False)
    Agent.objects.filter(pk=agent.pk).update(summary="The user's code word is Marigold.")

    purge_messages(agent, who="7", text="marigold")
    agent.refresh_from_db()
    assert agent.summary == "The user's code word is [forgotten]."

    purge_messages(agent, who="7", message_ids=[stored(agent)[0].uid])
    agent.refresh_from_db()
    assert agent.summary == ""


def test_an_unknown_message_id_is_not_found_and_nothing_is_deleted(make_agent, llm):
    agent = make_agent()
    say(agent, "keep me")
    before = stored(agent)

    with pytest.raises(NotFound):
        purge_messages(agent, who="7", message_ids=[before[0].uid, "message-nope"])

    assert stored(agent) == before
    assert not Tombstone.objects.exists()


@pytest.mark.parametrize(
    "selection",
    [
        {},
        {"everything": True, "text": "abc"},
        {"text": "ab"},
        {"text": "   x  "},
        {"start_date": timezone.now(), "end_date": timezone.now() - timedelta(days=1)},
    ],
)
def test_a_selection_that_is_not_exactly_one_clear_choice_is_refused(make_agent, selection):
    agent = make_agent()

    with pytest.raises(InvalidRequest):
        purge_messages(agent, who="7", **selection)

    assert not Tombstone.objects.exists()
