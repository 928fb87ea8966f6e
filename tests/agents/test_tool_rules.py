"""Tool rules in the agent loop: what the model is offered at each step, which calls are
refused (and what the model is told), and how the turn ends, one rule type at a time."""

from __future__ import annotations

import json
from typing import Any

from agents.loop import Approval, InputMessage
from agents.models import Agent, Message
from agents.services import send_message
from agents.tools import BASE_TOOLS, default_rules
from memory import services as memory_services
from tests.llm_server import make_tool_call

SEARCH = "conversation_search"  # returns "No results found." in a new agent
APPEND = "core_memory_append"


def with_rules(make_agent: Any, *rules: dict[str, Any]) -> Agent:
    """An agent with the base tools, their default rules, and `rules`."""
    return make_agent(tool_rules=[*default_rules(BASE_TOOLS), *rules])


def turn(agent: Agent, text: str = "hi", **options: Any) -> Any:
    return send_message(agent, [InputMessage(role="user", content=text)], **options)


def offered(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request.get("tools", [])]


def forced(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def results(agent: Agent) -> list[tuple[str, str, str]]:
    """(tool, status, message) of every tool result, oldest first."""
    return [
        (m.tool_name, m.tool_status, json.loads(m.content)["message"])
        for m in agent.messages.filter(role="tool").order_by("seq")
    ]


def say(text: str) -> tuple[str, dict[str, str]]:
    return "send_message", {"message": text}


def test_an_agent_with_the_default_rules_is_offered_every_tool_as_before(make_agent, llm):
    agent = make_agent()
    llm.tool_call(SEARCH, {"query": "tea"})
    llm.tool_call(*say("Nothing found."))
    assert turn(agent).stop_reason == "end_turn"
    assert [offered(r) for r in llm.requests] == [BASE_TOOLS, BASE_TOOLS]
    assert [r["tool_choice"] for r in llm.requests] == ["auto", "auto"]


def test_run_first_offers_only_its_tool_until_it_ran_and_refuses_another(make_agent, llm):
    agent = with_rules(make_agent, {"tool_name": SEARCH, "type": "run_first"})
    llm.tool_call(*say("Hello!"))
    llm.tool_call(SEARCH, {"query": "tea"})
    llm.tool_call(*say("Hello again!"))
    result = turn(agent)

    assert [offered(r) for r in llm.requests] == [[SEARCH], [SEARCH], BASE_TOOLS]
    assert [r["tool_choice"] for r in llm.requests] == [forced(SEARCH), forced(SEARCH), "auto"]
    refused, searched, sent = results(agent)
    assert refused[:2] == ("send_message", "error")
    assert refused[2] == (
        "send_message was not run: the turn must start with conversation_search "
        "(run_first). Tools you may call now: conversation_search."
    )
    assert searched[:2] == (SEARCH, "success") and sent[:2] == ("send_message", "success")
    assert result.stop_reason == "end_turn" and result.tool_errors == 1
    # The next turn starts with the rule again.
    llm.tool_call(SEARCH, {"query": "x"})
    llm.tool_call(*say("Hi."))
    turn(agent)
    assert offered(llm.requests[3]) == [SEARCH]


def test_run_first_args_are_laid_over_the_models(make_agent, llm):
    rule = {"tool_name": SEARCH, "type": "run_first", "args": {"query": "garden"}}
    agent = with_rules(make_agent, rule)
    llm.tool_call(SEARCH, {"query": "tea", "limit": 2})
    llm.tool_call(*say("Done."))
    turn(agent)
    call = agent.messages.filter(role="assistant").order_by("seq").first().tool_calls[0]
    assert json.loads(call["arguments"]) == {"query": "garden", "limit": 2}


def test_exit_loop_ends_the_turn_after_a_tool_that_would_go_on(make_agent, llm):
    agent = with_rules(make_agent, {"tool_name": SEARCH, "type": "exit_loop"})
    llm.tool_call(SEARCH, {"query": "tea"})
    result = turn(agent)
    assert len(llm.requests) == 1
    assert result.stop_reason == "tool_rule"


def test_continue_loop_makes_send_message_go_on(make_agent, llm):
    agent = make_agent(
        tool_rules=[
            *default_rules([name for name in BASE_TOOLS if name != "send_message"]),
            {"tool_name": "send_message", "type": "continue_loop"},
        ]
    )
    llm.tool_call(*say("One moment."))
    llm.reply("Here it is.")
    result = turn(agent)
    assert len(llm.requests) == 2
    assert result.stop_reason == "end_turn"


def test_a_child_rule_offers_only_the_children_after_its_tool(make_agent, llm):
    rule = {"tool_name": SEARCH, "type": "constrain_child_tools", "children": ["send_message"]}
    agent = with_rules(make_agent, rule)
    llm.tool_call(SEARCH, {"query": "tea"})
    llm.tool_call(APPEND, {"label": "human", "content": "likes tea"})
    llm.tool_call(*say("No notes on tea."))
    result = turn(agent)

    assert [offered(r) for r in llm.requests] == [BASE_TOOLS, ["send_message"], ["send_message"]]
    assert [r["tool_choice"] for r in llm.requests] == [
        "auto",
        forced("send_message"),
        forced("send_message"),
    ]
    assert results(agent)[1] == (
        APPEND,
        "error",
        "core_memory_append was not run: after conversation_search only send_message may be "
        "called (constrain_child_tools). Tools you may call now: send_message.",
    )
    assert result.stop_reason == "end_turn"


def test_a_child_rules_arguments_are_given_to_the_child(make_agent, llm):
    rule = {
        "tool_name": SEARCH,
        "type": "constrain_child_tools",
        "children": [APPEND],
        "child_arg_nodes": [{"name": APPEND, "args": {"label": "human"}}],
    }
    agent = with_rules(make_agent, rule)
    llm.tool_call(SEARCH, {"query": "tea"})
    llm.tool_call(APPEND, {"label": "persona", "content": "asked about tea"})
    llm.tool_call(*say("Noted."))
    turn(agent)
    assert results(agent)[1][:2] == (APPEND, "success")
    assert "asked about tea" in memory_services.get_agent_block(agent, "human").value


def test_a_conditional_rule_offers_the_child_the_output_maps_to(make_agent, llm):
    rule = {
        "tool_name": SEARCH,
        "type": "conditional",
        "child_output_mapping": {"No results found.": APPEND},
        "default_child": "send_message",
    }
    agent = with_rules(make_agent, rule)
    llm.tool_call(SEARCH, {"query": "tea"})
    llm.tool_call(*say("Nothing."))
    llm.tool_call(APPEND, {"label": "human", "content": "asked about tea"})
    llm.tool_call(*say("Noted."))
    result = turn(agent)

    assert [offered(r) for r in llm.requests] == [BASE_TOOLS, [APPEND], [APPEND], BASE_TOOLS]
    assert results(agent)[1] == (
        "send_message",
        "error",
        'send_message was not run: after conversation_search returned "No results found." '
        "only core_memory_append may be called (conditional). "
        "Tools you may call now: core_memory_append.",
    )
    assert result.stop_reason == "end_turn"


def test_a_conditional_rule_that_requires_a_mapped_output_ends_the_turn_without_one(
    make_agent, llm
):
    rule = {
        "tool_name": SEARCH,
        "type": "conditional",
        "child_output_mapping": {"found": "send_message"},
        "require_output_mapping": True,
    }
    agent = with_rules(make_agent, rule)
    llm.tool_call(SEARCH, {"query": "tea"})
    result = turn(agent)
    assert len(llm.requests) == 1
    assert result.stop_reason == "tool_rule"


def test_a_parent_rules_children_are_offered_only_right_after_it(make_agent, llm):
    rule = {"tool_name": SEARCH, "type": "parent_last_tool", "children": [APPEND]}
    agent = with_rules(make_agent, rule)
    llm.tool_call(APPEND, {"label": "human", "content": "likes tea"})
    llm.tool_call(SEARCH, {"query": "tea"})
    llm.tool_call(APPEND, {"label": "human", "content": "likes tea"})
    llm.tool_call(*say("Noted."))
    result = turn(agent)

    others = [name for name in BASE_TOOLS if name != APPEND]
    assert [offered(r) for r in llm.requests] == [others, others, [APPEND], others]
    assert results(agent)[0][:2] == (APPEND, "error")
    assert results(agent)[0][2].startswith(
        "core_memory_append was not run: core_memory_append may only be called right after "
        "conversation_search (parent_last_tool)."
    )
    assert [r[1] for r in results(agent)[1:]] == ["success"] * 3
    assert result.stop_reason == "end_turn"


def test_max_count_per_step_refuses_a_call_over_the_limit_in_the_turn(make_agent, llm):
    agent = with_rules(
        make_agent, {"tool_name": SEARCH, "type": "max_count_per_step", "max_count_limit": 1}
    )
    twice = [make_tool_call(SEARCH, {"query": "tea"}), make_tool_call(SEARCH, {"query": "milk"})]
    llm.reply(tool_calls=twice)
    llm.tool_call(*say("Nothing on either."))
    turn(agent)

    others = [name for name in BASE_TOOLS if name != SEARCH]
    assert [offered(r) for r in llm.requests] == [BASE_TOOLS, others]
    (first, second, _) = results(agent)
    assert first[:2] == (SEARCH, "success")
    assert second[:2] == (SEARCH, "error")
    assert "at most once a turn and has been (max_count_per_step)" in second[2]
    # A new turn counts afresh.
    llm.tool_call(*say("Hi."))
    turn(agent)
    assert offered(llm.requests[2]) == BASE_TOOLS


def test_required_before_exit_keeps_the_turn_going_until_the_tool_ran(make_agent, llm):
    agent = with_rules(make_agent, {"tool_name": SEARCH, "type": "required_before_exit"})
    llm.tool_call(*say("Hello!"))
    llm.reply("Really, hello.")
    llm.tool_call(SEARCH, {"query": "hello"})
    llm.tool_call(*say("Bye."))
    result = turn(agent)

    assert len(llm.requests) == 4
    note = (
        "The turn cannot end yet: call conversation_search first (required_before_exit), "
        "then finish."
    )
    assert llm.requests[1]["messages"][-1] == {"role": "system", "content": note}
    assert llm.requests[2]["messages"][-1] == {"role": "system", "content": note}
    assert list(agent.messages.filter(role="system").values_list("content", flat=True)) == [
        note,
        note,
    ]
    assert result.stop_reason == "end_turn"


def test_required_before_exit_gives_up_at_max_steps(make_agent, llm):
    agent = with_rules(make_agent, {"tool_name": SEARCH, "type": "required_before_exit"})
    llm.reply("Hello.")
    llm.reply("Hello!")
    result = turn(agent, max_steps=2)
    assert result.stop_reason == "max_steps"


def test_a_call_that_waits_for_approval_counts_once_approved(make_agent, llm):
    agent = with_rules(
        make_agent,
        {"tool_name": SEARCH, "type": "requires_approval"},
        {"tool_name": SEARCH, "type": "constrain_child_tools", "children": ["send_message"]},
    )
    llm.tool_call(SEARCH, {"query": "tea"})
    assert turn(agent).stop_reason == "requires_approval"
    call = Message.objects.filter(agent=agent, role="assistant").latest("seq").tool_calls[0]

    llm.tool_call(*say("Nothing on tea."))
    answer = InputMessage(role="user", content="", approvals=[Approval(call["id"], approve=True)])
    result = send_message(agent, [answer])
    assert offered(llm.requests[-1]) == ["send_message"]
    assert result.stop_reason == "end_turn"
