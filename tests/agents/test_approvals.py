"""Client-side tools and approvals: a call to a tool the client runs (or one a person must
approve) ends the step with an approval request; the client's approval message carries
the result or the decision, and the turn goes on."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from agents.models import Agent, Message
from memory.models import Passage
from tests.http import patch, post

SHELL = {
    "name": "ShellCommand",
    "description": "Run a shell command on the user's machine.",
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


def send(api: Client, agent: Agent, *messages: dict[str, Any], **extra: Any) -> Any:
    body = {"messages": list(messages), **extra}
    return post(api, f"/v1/agents/{agent.id}/messages", body)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def approval(*answers: dict[str, Any]) -> dict[str, Any]:
    return {"type": "approval", "approvals": list(answers)}


def offered(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request.get("tools", [])]


def test_a_client_tool_call_waits_for_the_clients_result_and_the_turn_goes_on(api, make_agent, llm):
    agent = make_agent()
    llm.tool_call("ShellCommand", {"command": "cat note.txt"}, content="Let me read it.")
    first = send(api, agent, user("what does note.txt say?"), client_tools=[SHELL])
    assert first.status_code == 200, first.content
    answer = first.json()
    assert "ShellCommand" in offered(llm.last_request)
    assert answer["stop_reason"]["stop_reason"] == "requires_approval"
    (request,) = [m for m in answer["messages"] if m["message_type"] == "approval_request_message"]
    call = request["tool_call"]
    assert call["name"] == "ShellCommand"
    assert json.loads(call["arguments"]) == {"command": "cat note.txt"}
    assert request["tool_calls"] == [call]

    # Nothing else may be said until the call is answered (Letta's 409).
    blocked = send(api, agent, user("hello?"), client_tools=[SHELL])
    assert blocked.status_code == 409
    assert "waiting for approval" in blocked.json()["detail"]

    llm.tool_call("send_message", {"message": "It says marmalade."})
    result = {
        "type": "tool",
        "tool_call_id": call["tool_call_id"],
        "tool_return": "the secret word is marmalade",
        "status": "success",
        "stdout": ["the secret word is marmalade"],
        "stderr": [],
    }
    second = send(api, agent, approval(result), client_tools=[SHELL])
    assert second.status_code == 200, second.content
    done = second.json()
    assert done["stop_reason"]["stop_reason"] == "end_turn"
    kinds = [m["message_type"] for m in done["messages"]]
    assert kinds == ["tool_return_message", "assistant_message"]
    assert done["messages"][0]["tool_return"] == "the secret word is marmalade"
    # The model saw the client's result as the answer to its call.
    (returned,) = [m for m in llm.last_request["messages"] if m["role"] == "tool"]
    assert returned["tool_call_id"] == call["tool_call_id"]
    assert "marmalade" in returned["content"]
    # The history shows the request, then the result.
    history = api.get(f"/v1/agents/{agent.id}/messages").json()
    assert [m["message_type"] for m in history] == [
        "user_message",
        "reasoning_message",
        "approval_request_message",
        "tool_return_message",
        "assistant_message",
    ]


def test_a_denied_call_is_a_failed_result_the_model_reads(api, make_agent, llm):
    agent = make_agent()
    llm.tool_call("ShellCommand", {"command": "rm -rf /"})
    call = _requested(send(api, agent, user("clean up"), client_tools=[SHELL]))
    llm.reply("Understood, I will not.")
    denial = {"type": "approval", "tool_call_id": call, "approve": False, "reason": "too risky"}
    done = send(api, agent, approval(denial), client_tools=[SHELL]).json()
    assert done["messages"][0]["status"] == "error"
    assert "denied" in done["messages"][0]["tool_return"]
    assert "too risky" in done["messages"][0]["tool_return"]
    assert done["stop_reason"]["stop_reason"] == "end_turn"


def test_a_server_tool_that_requires_approval_runs_only_once_approved(api, make_agent, llm):
    agent = make_agent()
    rules = [{"tool_name": "archival_memory_insert", "type": "requires_approval"}]
    assert patch(api, f"/v1/agents/{agent.id}", {"tool_rules": rules}).status_code == 200

    llm.tool_call("archival_memory_insert", {"content": "Ada likes tea"})
    call = _requested(send(api, agent, user("remember I like tea")))
    assert not Passage.objects.filter(agent=agent).exists()
    llm.reply("Saved.")
    yes = {"type": "approval", "tool_call_id": call, "approve": True}
    done = send(api, agent, approval(yes)).json()
    assert done["messages"][0]["status"] == "success"
    assert list(Passage.objects.filter(agent=agent).values_list("text", flat=True)) == [
        "Ada likes tea"
    ]

    llm.tool_call("archival_memory_insert", {"content": "Ada hates tea"})
    call = _requested(send(api, agent, user("actually I hate it")))
    llm.reply("Not saved.")
    no = {"type": "approval", "tool_call_id": call, "approve": False}
    send(api, agent, approval(no))
    assert Passage.objects.filter(agent=agent).count() == 1


def test_approvals_that_do_not_match_what_waits_are_refused_and_nothing_is_stored(
    api, make_agent, llm
):
    agent = make_agent()
    stray = {"type": "tool", "tool_call_id": "call_nothing", "tool_return": "x"}
    nothing = send(api, agent, approval(stray))
    assert nothing.status_code == 409
    assert nothing.json()["detail"] == "No tool call is currently awaiting approval."

    llm.tool_call("ShellCommand", {"command": "ls"})
    call = _requested(send(api, agent, user("list files"), client_tools=[SHELL]))
    stored = Message.objects.filter(agent=agent).count()
    wrong = send(api, agent, approval(stray), client_tools=[SHELL])
    assert wrong.status_code == 409
    assert "call_nothing" in wrong.json()["detail"] and call in wrong.json()["detail"]
    assert Message.objects.filter(agent=agent).count() == stored


def _requested(response: Any) -> str:
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["stop_reason"]["stop_reason"] == "requires_approval"
    (request,) = [m for m in answer["messages"] if m["message_type"] == "approval_request_message"]
    return str(request["tool_call"]["tool_call_id"])
