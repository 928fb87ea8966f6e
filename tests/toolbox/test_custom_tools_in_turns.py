"""A custom tool in an agent's turn: the model is offered its schema, calls it, and reads
what it returned, or why it failed, while the turn goes on. Sleep-time agents call them
only where the deployment allows it, and each call shows on the run. Real sandboxes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents import services
from agents.models import Message, Role
from tests.factories import pair, run_sleeper_now, say
from toolbox.sandbox import available
from toolbox.services import ToolSpec, create_tool

DICE = '''
def roll(sides: int) -> str:
    """Roll one die.

    Args:
        sides: How many sides it has.
    """
    import os
    return f"rolled {sides} on a d{sides} for {os.environ.get('PLAYER', 'nobody')}"
'''
BROKEN = '''
def divide(a: int, b: int) -> float:
    """Divide a by b."""
    return a / b
'''
CHATTY = '''
def chatter() -> str:
    """Say a lot."""
    return "blah " * 10_000
'''


@pytest.fixture(scope="session")
def envs_dir(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("turn-tool-envs")


@pytest.fixture(autouse=True)
def _sandbox(settings: Any, envs_dir: Path) -> None:
    settings.TOOL_ENVS_DIR = envs_dir
    settings.TOOL_SANDBOX = "bwrap"
    if available() is not None:
        pytest.fail(f"The sandbox does not work on this machine: {available()}")


def tool_results(agent: Any, name: str) -> list[tuple[str, dict[str, Any]]]:
    rows = Message.objects.filter(agent=agent, role=Role.TOOL, tool_name=name).order_by("seq")
    return [(row.tool_status, json.loads(row.content)) for row in rows]


def offered(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request.get("tools", [])]


def test_the_model_calls_a_custom_tool_and_reads_its_result(make_agent, user, llm):
    tool = create_tool(user, ToolSpec(source_code=DICE, environment={"PLAYER": "Ada"}))
    agent = make_agent(tools=["roll"])
    llm.tool_call("roll", {"sides": 20})
    llm.tool_call("send_message", {"message": "You rolled a 20."})

    result = say(agent, "roll a d20")

    assert result.stop_reason == "end_turn"
    first = llm.requests[-2]  # the step that called the tool
    assert "roll" in offered(first)
    schema = next(t for t in first["tools"] if t["function"]["name"] == "roll")["function"]
    assert schema == tool.json_schema
    ((status, answer),) = tool_results(agent, "roll")
    assert status == "success" and answer["message"] == "rolled 20 on a d20 for Ada"


def test_a_failing_tool_is_a_failed_result_and_the_turn_goes_on(make_agent, user, llm):
    create_tool(user, ToolSpec(source_code=BROKEN))
    agent = make_agent(tools=["divide"])
    llm.tool_call("divide", {"a": 1, "b": 0})
    llm.tool_call("divide", {"a": 1})
    llm.tool_call("send_message", {"message": "Cannot divide by zero."})

    result = say(agent, "1/0?")

    assert result.stop_reason == "end_turn"
    (zero_status, zero), (missing_status, missing) = tool_results(agent, "divide")
    assert zero_status == "error" and "ZeroDivisionError" in zero["message"]
    assert missing_status == "error" and "Missing required argument(s): b" in missing["message"]


def test_a_long_result_is_cut_at_the_tools_limit_and_says_so(make_agent, user, llm):
    create_tool(user, ToolSpec(source_code=CHATTY, return_char_limit=100))
    agent = make_agent(tools=["chatter"])
    llm.tool_call("chatter", {})
    llm.tool_call("send_message", {"message": "ok"})

    say(agent, "talk")

    ((status, answer),) = tool_results(agent, "chatter")
    assert status == "success"
    assert answer["message"].startswith("blah blah")
    assert "cut off: the result was 50000 characters" in answer["message"]


def test_with_custom_tools_off_the_model_reads_why(make_agent, user, llm, settings):
    create_tool(user, ToolSpec(source_code=DICE))
    agent = make_agent(tools=["roll"])
    settings.TOOL_SANDBOX = "off"
    llm.tool_call("roll", {"sides": 6})
    llm.tool_call("send_message", {"message": "No dice."})

    say(agent, "roll")

    ((status, answer),) = tool_results(agent, "roll")
    assert status == "error" and "Custom tools cannot run on this server" in answer["message"]


@pytest.mark.parametrize("allowed", [False, True])
def test_sleeptime_agents_call_custom_tools_only_where_allowed(
    make_agent, user, llm, settings, allowed
):
    settings.SLEEPTIME_EXTERNAL_TOOLS = allowed
    tool = create_tool(user, ToolSpec(source_code=DICE))
    primary, sleeper, group = pair(make_agent)
    services.attach_tool(sleeper, tool.id)
    say(primary, "I like board games.")
    llm.sleeper.tool_call("roll", {"sides": 6})
    llm.sleeper.tool_call("memory_finish_edits", {})

    run = run_sleeper_now(group)

    assert ("roll" in offered(llm.sleeper.requests[0])) is allowed
    calls = Message.objects.filter(run_id=run.id, role=Role.TOOL, tool_name="roll")
    (call,) = calls
    answer = json.loads(call.content)["message"]
    if allowed:
        assert call.tool_status == "success" and answer.startswith("rolled 6 on a d6")
    else:
        assert call.tool_status == "error" and "SLEEPTIME_EXTERNAL_TOOLS" in answer


def test_a_tool_made_to_require_approval_runs_only_once_approved(api, make_agent, user, llm):
    create_tool(user, ToolSpec(source_code=DICE, default_requires_approval=True))
    agent = make_agent(tools=["roll"])
    llm.tool_call("roll", {"sides": 6})

    waiting = api.post(
        f"/v1/agents/{agent.id}/messages",
        {"messages": [{"role": "user", "content": "roll"}]},
        content_type="application/json",
    ).json()

    assert waiting["stop_reason"]["stop_reason"] == "requires_approval"
    assert tool_results(agent, "roll") == []
    (request,) = [m for m in waiting["messages"] if m["message_type"] == "approval_request_message"]
    llm.reply("Rolled.")
    approve = {"type": "approval", "tool_call_id": request["tool_call"]["tool_call_id"]}
    done = api.post(
        f"/v1/agents/{agent.id}/messages",
        {"messages": [{"type": "approval", "approvals": [{**approve, "approve": True}]}]},
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    ((status, answer),) = tool_results(agent, "roll")
    assert status == "success" and answer["message"].startswith("rolled 6 on a d6")
