"""Sleep-time-aware context: once a sleep-time run has read a stretch of conversation, it
leaves the primary's prompt (but for a tail of recent turns) into the recursive summary;
and an agent's own context budget holds with sleep-time off too."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from agents import compaction, loop
from agents.models import Agent, Message, Role, Run
from agents.threads import Thread
from tests.factories import pair, run_sleeper_now, say
from tests.llm_server import make_tool_call

SUMMARY = "The user listed the topics they like."


def primary_or_summarizer(body: dict[str, Any]) -> Any:
    messages = body.get("messages") or []
    if str(messages[0].get("content", "")).startswith("You condense conversation history"):
        return SUMMARY
    return [make_tool_call("send_message", {"message": "Noted."})]


def is_summary_request(body: dict[str, Any]) -> bool:
    return str(body["messages"][0].get("content", "")).startswith("You condense")


def in_context(agent: Agent) -> list[str]:
    return list(
        Message.objects.filter(agent=agent, in_context=True, role=Role.USER)
        .order_by("seq")
        .values_list("content", flat=True)
    )


@pytest.fixture
def chatty(make_agent, llm):
    llm.main.answer_with(primary_or_summarizer)
    primary, _, group = pair(make_agent, sleeptime_agent_frequency=0)
    Agent.objects.filter(pk=primary.pk).update(context_tail_turns=2)
    primary.refresh_from_db()
    return primary, group


def test_turns_a_run_has_read_leave_the_prompt_but_for_a_tail(chatty, llm):
    primary, group = chatty
    for n in range(1, 6):
        say(primary, f"I like topic {n}.")

    run = run_sleeper_now(group)

    primary.refresh_from_db()
    assert primary.summary == SUMMARY
    assert in_context(primary) == ["I like topic 4.", "I like topic 5."]
    # Nothing is deleted: every message is still stored, out of the prompt.
    assert Message.objects.filter(agent=primary, role=Role.USER).count() == 5
    assert run.metadata["compacted_messages"] == 9  # three turns of three messages
    # The next turn reads the summary and the tail, not the turns that left.
    say(primary, "And topic 6.")
    request = next(b for b in reversed(llm.requests) if not is_summary_request(b))
    said = [m.get("content") for m in request["messages"] if m.get("role") == "user"]
    summary, *turns = said
    assert summary.startswith("Note: earlier messages") and SUMMARY in summary
    assert turns == ["I like topic 4.", "I like topic 5.", "And topic 6."]


def test_the_summarys_tokens_are_the_runs(chatty, llm):
    primary, group = chatty
    for n in range(1, 5):
        say(primary, f"I like topic {n}.")
    before = len(llm.requests)

    run = run_sleeper_now(group)

    summary_usage = [
        loop_usage
        for body, loop_usage in zip(llm.requests[before:], _usages(llm, before), strict=True)
        if is_summary_request(body)
    ]
    assert len(summary_usage) == 1
    sleeper_tokens = sum(m.usage["prompt_tokens"] for m in _run_messages(run) if m.usage)
    assert run.prompt_tokens == sleeper_tokens + summary_usage[0] > sleeper_tokens


def _usages(llm: Any, start: int) -> list[int]:
    from tests.llm_server import _estimate_prompt_tokens

    return [_estimate_prompt_tokens(body["messages"]) for body in llm.requests[start:]]


def _run_messages(run: Run) -> list[Message]:
    return list(Message.objects.filter(run_id=run.id, role=Role.ASSISTANT))


def test_turns_leave_in_batches_so_the_summary_is_not_rewritten_every_turn(chatty, llm):
    primary, group = chatty
    for n in range(1, 4):
        say(primary, f"I like topic {n}.")

    run_sleeper_now(group)

    # One turn read beyond the tail of two: too few to be worth a summary yet.
    assert in_context(primary) == ["I like topic 1.", "I like topic 2.", "I like topic 3."]
    assert not any(is_summary_request(body) for body in llm.requests)


def test_turns_the_run_did_not_read_stay(chatty, llm):
    primary, _ = chatty
    for n in range(1, 7):
        say(primary, f"I like topic {n}.")
    third = Message.objects.filter(agent=primary, content="I like topic 3.").get()
    read_until = Message.objects.filter(agent=primary, turn_id=third.turn_id).order_by("-seq")[0]

    done = compaction.after_run(primary, read_until.seq)

    assert done.messages == 9
    assert in_context(primary) == ["I like topic 4.", "I like topic 5.", "I like topic 6."]


def test_a_thread_whose_turn_is_running_keeps_its_context_for_a_later_run(chatty, llm):
    primary, _ = chatty
    for n in range(1, 6):
        say(primary, f"I like topic {n}.")
    last = Message.objects.filter(agent=primary).order_by("-seq")[0]
    holding, release = threading.Event(), threading.Event()

    def a_turn_elsewhere() -> None:
        # Another connection, as another process's turn would hold the lock.
        with loop.TurnLock(primary.id):
            holding.set()
            release.wait(10)
        connection.close()

    other = threading.Thread(target=a_turn_elsewhere)
    other.start()
    try:
        assert holding.wait(10)
        done = compaction.after_run(primary, last.seq)
    finally:
        release.set()
        other.join()

    assert done.messages == 0
    assert len(in_context(primary)) == 5
    assert compaction.after_run(primary, last.seq).messages == 9


def test_a_summary_a_turn_overtook_while_it_was_written_is_not_applied(chatty, llm, monkeypatch):
    primary, _ = chatty
    for n in range(1, 6):
        say(primary, f"I like topic {n}.")
    last = Message.objects.filter(agent=primary).order_by("-seq")[0]
    written = loop.summarize

    def while_a_turn_summarises(thread: Thread, leaving: list[Message]) -> Any:
        reply = written(thread, leaving)  # no lock held meanwhile: a turn may run
        Agent.objects.filter(pk=primary.pk).update(summary="A turn's own summary.")
        return reply

    monkeypatch.setattr(loop, "summarize", while_a_turn_summarises)

    done = compaction.after_run(primary, last.seq)

    assert done.messages == 0 and done.prompt_tokens > 0  # spent, and said so
    primary.refresh_from_db()
    assert primary.summary == "A turn's own summary."
    assert len(in_context(primary)) == 5


def test_what_waits_for_review_keeps_the_turns_in_the_prompt(chatty, llm):
    primary, group = chatty
    human = next(b for b in primary.block_links.all() if b.block.label == "human").block
    human.requires_review = True
    human.save()
    for n in range(1, 6):
        say(primary, f"I like topic {n}.")
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Likes topics 1-5"})

    run = run_sleeper_now(group)

    assert run.outcome == "awaiting_review"
    assert len(in_context(primary)) == 5


def test_a_summary_that_fails_leaves_everything_in_place_and_says_so(chatty, llm):
    primary, group = chatty
    for n in range(1, 6):
        say(primary, f"I like topic {n}.")
    llm.main.answer_with(None)
    llm.main.fail(status=400, message="no summaries today", times=1)

    run = run_sleeper_now(group)

    assert run.status == "completed"
    assert "no summaries today" in run.metadata["compaction_error"]
    assert len(in_context(primary)) == 5
    primary.refresh_from_db()
    assert primary.summary == ""


def test_with_the_tail_set_to_0_everything_stays_as_before(chatty, llm):
    primary, group = chatty
    Agent.objects.filter(pk=primary.pk).update(context_tail_turns=0)
    for n in range(1, 6):
        say(primary, f"I like topic {n}.")

    run_sleeper_now(group)

    assert len(in_context(primary)) == 5


def test_conversations_are_compacted_each_on_their_own(chatty, llm):
    from agents.conversations import ConversationSpec, create_conversation
    from agents.services import send_message

    primary, group = chatty
    talk = create_conversation(primary.owner, primary, ConversationSpec())
    for n in range(1, 6):
        say(primary, f"I like topic {n}.")
        send_message(
            primary,
            [loop.InputMessage(role="user", content=f"Topic {n} here.")],
            conversation=talk,
        )

    run_sleeper_now(group)

    talk.refresh_from_db()
    assert talk.history_summary == SUMMARY
    assert in_context(primary) == [
        "I like topic 4.",
        "Topic 4 here.",
        "I like topic 5.",
        "Topic 5 here.",
    ]


def test_a_context_budget_below_the_window_holds_with_sleep_time_off(make_agent, llm):
    llm.main.answer_with(primary_or_summarizer)
    agent = make_agent(context_window=128_000)
    fixed = loop.context_tokens(agent, loop.compile_system(agent), [], Thread(agent))
    Agent.objects.filter(pk=agent.pk).update(context_token_budget=fixed + 300)
    agent.refresh_from_db()

    turns = [say(agent, f"Please remember that topic {n} matters a great deal.") for n in range(30)]

    agent.refresh_from_db()
    assert agent.summary == SUMMARY
    assert len(in_context(agent)) < 30
    assert any(is_summary_request(body) for body in llm.requests)
    # Every token the model reported, the summaries' included, is some turn's.
    assert sum(t.prompt_tokens for t in turns) == sum(_usages(llm, 0))


def test_the_settings_are_read_and_changed_through_the_api(api, make_agent):
    agent = make_agent()
    state = api.get(f"/v1/agents/{agent.id}").json()
    assert (state["context_tail_turns"], state["context_token_budget"]) == (5, 0)

    changed = api.patch(
        f"/v1/agents/{agent.id}",
        {"context_tail_turns": 2, "context_token_budget": 4000},
        content_type="application/json",
    )

    assert changed.status_code == 200, changed.content
    assert (changed.json()["context_tail_turns"], changed.json()["context_token_budget"]) == (
        2,
        4000,
    )


@pytest.mark.parametrize(
    "body",
    [{"context_tail_turns": -1}, {"context_tail_turns": 1001}, {"context_token_budget": 999}],
)
def test_settings_out_of_bounds_are_refused_and_change_nothing(api, make_agent, body):
    agent = make_agent()

    response = api.patch(f"/v1/agents/{agent.id}", body, content_type="application/json")

    assert response.status_code in (400, 422), response.content
    assert "context_" in response.content.decode()
    agent.refresh_from_db()
    assert (agent.context_tail_turns, agent.context_token_budget) == (5, 0)
