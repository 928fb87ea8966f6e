"""Letta Code (npm `@letta-ai/letta-code` 0.25.9), unmodified, against a live Reverie.

Letta Code runs headless (`-p`, `--output-format json`), with the test model handle
(`-m`), a HOME and a working directory of its own, telemetry and the update check off.
Every turn goes to `POST /v1/conversations/{id}/messages` as a background stream; its
own tools (shell, patch, ...) are offered to the model as `client_tools`, and a call to
one comes back to it as an approval request that it answers with the tool's result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.clients.harness import LETTA_CODE, Finished, client_env, require, run
from tests.factories import TEST_MODEL
from tests.live import active_run_ids, wait_until
from tests.llm_server import ToolCall, make_tool_call

# Letta Code picks its toolset by model; for OpenAI models it is the Codex-style one,
# whose shell tool is ShellCommand ({"command": "..."}).
SHELL_TOOL = "ShellCommand"


@pytest.fixture(autouse=True)
def _runs_settle(django_db_blocker: Any) -> Any:
    yield
    with django_db_blocker.unblock():
        wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def letta_code(
    prompt: str, live_server_url: str, api_key: str, home: Path, workdir: Path, *flags: str
) -> Finished:
    require(LETTA_CODE, "Letta Code")
    command = ["node", str(LETTA_CODE), "-p", prompt, "--new-agent", "-m", TEST_MODEL]
    command += ["--output-format", "json", *flags]
    return run(command, env=client_env(live_server_url, api_key, home), cwd=workdir, timeout=60)


def result_of(finished: Finished, access_log: Any) -> dict[str, Any]:
    """The JSON result Letta Code printed last; fails with its output and the server's
    answers if it did not end well."""
    context = f"{finished.describe()}\n--- server answered ---\n{access_log.describe()}"
    assert finished.returncode == 0, context
    # The result is pretty-printed: from the last line that opens an object to the end.
    lines = finished.stdout.splitlines()
    starts = [index for index, line in enumerate(lines) if line == "{"]
    assert starts, context
    result = json.loads("\n".join(lines[starts[-1] :]))
    assert result.get("type") == "result" and result.get("is_error") is False, context
    return result


def unexpected_failures(access_log: Any) -> list[Any]:
    """The requests not answered 2xx, but for the one Letta answers so too: Letta Code
    creates its agent with `tools: ["web_search", "fetch_webpage"]`, a server without
    those tools refuses that with a 400 in Letta's words, and Letta Code retries without
    them (the letta-evals test, whose agents come from a factory, allows no exception)."""
    return [
        answer
        for answer in access_log.failures()
        if (answer.method, answer.path, answer.status) != ("POST", "/v1/agents/", 400)
    ]


def tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or []]


def test_letta_code_holds_a_conversation_and_prints_the_model_s_reply(
    live_server_url, api_key, worker, llm, home, workdir, access_log
):
    reply = "Hello from the scripted model; the conversation works."
    llm.reply(reply)

    finished = letta_code("Say hello.", live_server_url, api_key, home, workdir)

    result = result_of(finished, access_log)
    assert result["result"] == reply, finished.describe()
    # The prompt went to the model through the conversation Letta Code made.
    assert any("Say hello." in json.dumps(body["messages"]) for body in llm.main.requests)
    client = Letta(base_url=live_server_url, api_key=api_key)
    conversation = client.conversations.retrieve(result["conversation_id"])
    assert conversation.agent_id == result["agent_id"]
    texts = [
        json.dumps(message.content)
        for message in client.conversations.messages.list(result["conversation_id"])
        if message.message_type in ("user_message", "assistant_message")
    ]
    assert any("Say hello." in text for text in texts), texts
    assert any(reply in text for text in texts), texts
    assert unexpected_failures(access_log) == [], access_log.describe()


def test_letta_code_runs_its_own_shell_tool_for_the_model_and_the_turn_completes(
    live_server_url, api_key, worker, llm, home, workdir, access_log, tmp_path
):
    note = tmp_path / "note.txt"
    note.write_text("The secret word is marmalade.\n")

    def answer(body: dict[str, Any]) -> str | list[ToolCall]:
        results = [m for m in body["messages"] if m.get("role") == "tool"]
        if results:
            return f"The note says: {json.dumps(results[-1].get('content'))}"
        if SHELL_TOOL not in tool_names(body):
            return f"no {SHELL_TOOL} among the tools offered: {tool_names(body)}"
        return [make_tool_call(SHELL_TOOL, {"command": f"cat {note}", "workdir": str(tmp_path)})]

    llm.main.answer_with(answer)

    finished = letta_code(
        "What does note.txt say?", live_server_url, api_key, home, workdir, "--yolo"
    )

    result = result_of(finished, access_log)
    # The tool ran on the client's machine, its output went back through the server to
    # the model, and the model's answer came back to Letta Code.
    assert "marmalade" in result["result"], finished.describe()
    assert result["num_turns"] >= 2, result
    offered = tool_names(llm.main.requests[0])
    assert SHELL_TOOL in offered, offered
    assert unexpected_failures(access_log) == [], access_log.describe()
