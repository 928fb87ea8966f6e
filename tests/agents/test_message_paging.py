"""An agent's messages page to their end, whatever its history holds.

A stored message can render as several Letta messages that share its id (reasoning and a
tool call), or as none (the return of `send_message`, which its assistant message says
already). Paged with `after` or `before`, in both orders, at any limit and from any
message, the pages give exactly the whole list: a page is empty only past the end (the
1.x SDK's pager stops at the first empty page), no page cuts a stored message in two,
and `limit` counts Letta messages, exceeded only by a stored message alone on its page.

Histories are made by real turns with the scripted model (hypothesis picks them): plain
answers, `send_message` with and without reasoning, other tool calls and their returns,
failed calls, two calls in one step, and a sleep-time run, whose messages are listed at
`/v1/runs/{id}/messages` and on the sleep-time agent.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import sleeptime
from tests.factories import run_sleeper_now, say
from tests.llm_server import make_tool_call
from tests.paging import assert_pages_to_the_end, getter

FULL = 10_000

# A step of a turn: what the scripted model answers.
STEPS = ("search", "fail", "two calls")
ENDS = ("answer", "send", "send with reasoning")


def script(llm: Any, step: str, number: int) -> None:
    if step == "answer":
        llm.reply(f"Plain answer {number}.")
    elif step == "send":
        llm.tool_call("send_message", {"message": f"Sent answer {number}."})
    elif step == "send with reasoning":
        llm.tool_call("send_message", {"message": f"Sent {number}."}, content="Thinking it over.")
    elif step == "search":
        llm.tool_call("conversation_search", {"query": "earlier"}, content="Let me look.")
    elif step == "fail":
        llm.tool_call("no_such_tool", {})
    elif step == "two calls":
        llm.reply(
            None,
            tool_calls=[
                make_tool_call("conversation_search", {"query": "a"}),
                make_tool_call("archival_memory_search", {"query": "b"}),
            ],
        )


turns = st.lists(
    st.tuples(st.lists(st.sampled_from(STEPS), max_size=2), st.sampled_from(ENDS)),
    min_size=1,
    max_size=3,
)


def stored_messages(letta_messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The Letta messages grouped by the stored message they come from, in list order."""
    groups: list[list[dict[str, Any]]] = []
    for item in letta_messages:
        if groups and groups[-1][0]["id"] == item["id"]:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def test_two_turns_page_one_message_at_a_time_to_the_end(api, make_agent, llm):
    """The 1.x SDK's pager with limit=1 used to stop after the first answer: the next
    stored message, the return of send_message, rendered to an empty page."""
    agent = make_agent()
    for text in ["Hi!", "How are you?"]:
        llm.tool_call("send_message", {"message": f"You said: {text}"})
        say(agent, text)
    path = f"/v1/agents/{agent.id}/messages"

    seen, page = [], api.get(path, {"limit": 1}).json()
    while page:
        seen += page
        page = api.get(path, {"limit": 1, "after": page[-1]["id"]}).json()

    assert [(m["message_type"], m["content"]) for m in seen] == [
        ("user_message", "Hi!"),
        ("assistant_message", "You said: Hi!"),
        ("user_message", "How are you?"),
        ("assistant_message", "You said: How are you?"),
    ]


def test_a_limit_counts_letta_messages_and_a_stored_message_stays_whole(api, make_agent, llm):
    agent = make_agent()
    llm.tool_call("conversation_search", {"query": "x"}, content="Let me look.")
    llm.tool_call("send_message", {"message": "Nothing."})
    say(agent, "Anything?")
    path = f"/v1/agents/{agent.id}/messages"

    def pages(limit: int) -> list[list[str]]:
        found, page = [], api.get(path, {"limit": limit}).json()
        while page:
            found.append([m["message_type"] for m in page])
            page = api.get(path, {"limit": limit, "after": page[-1]["id"]}).json()
        return found

    # Reasoning and its tool call are one stored message: together, or the cursor (their
    # shared id) would lose the second. Only alone may they make a page over the limit.
    assert pages(2) == [
        ["user_message"],
        ["reasoning_message", "tool_call_message"],
        ["tool_return_message", "assistant_message"],
    ]
    assert pages(1) == [
        ["user_message"],
        ["reasoning_message", "tool_call_message"],
        ["tool_return_message"],
        ["assistant_message"],
    ]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=turns,
    background=st.booleans(),
    assistant_messages=st.booleans(),
    limit=st.integers(1, 5),
    pick=st.integers(0, 1000),
)
def test_any_history_pages_to_its_end_both_ways_from_every_message(
    api, make_agent, llm, history, background, assistant_messages, limit, pick
):
    llm.reset()
    agent = make_agent(enable_sleeptime=background)
    for number, (steps, end) in enumerate(history):
        for step in [*steps, end]:
            script(llm, step, number)
        say(agent, f"Question {number}")
    paths = [f"/v1/agents/{agent.id}/messages"]
    if background:
        llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Likes tea."})
        llm.sleeper.tool_call("memory_insert", {"label": "nope", "new_str": "Fails."})
        run = run_sleeper_now(sleeptime.group_of(agent))
        paths += [f"/v1/runs/{run.id}/messages", f"/v1/agents/{run.run_agent_id}/messages"]
    rendering = {"use_assistant_message": "true" if assistant_messages else "false"}

    for path in paths:
        get = getter(api, path)
        oldest_first = assert_pages_to_the_end(
            get, {"order": "asc", **rendering}, limit=limit, pick=pick, full_limit=FULL
        )
        newest_first = assert_pages_to_the_end(
            get, {"order": "desc", **rendering}, limit=limit, pick=pick, full_limit=FULL
        )
        assert stored_messages(newest_first) == stored_messages(oldest_first)[::-1]
    whole = getter(api, paths[0])({"limit": FULL, **rendering})
    questions = [m["content"] for m in whole if m["message_type"] == "user_message"]
    assert questions == [f"Question {number}" for number in range(len(history))]
    answers = [m for m in whole if m["message_type"] == "assistant_message"]
    assert len(answers) == sum(end == "answer" or assistant_messages for _, end in history)
