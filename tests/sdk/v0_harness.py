"""What the 0.1.x SDK check scripts share. It runs inside `.venv-sdk0` (letta-client
0.1.324, no Django) and imports only the SDK and the standard library; the scripts import
it by name, their own folder being first on `sys.path`."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from letta_client import AgentState, Letta

TEST_MODEL = "openai/gpt-4.1"
TEST_EMBEDDING = "openai/text-embedding-3-small"

# A check gets a client holding the key, the server's base URL, then the script's arguments.
Check = Callable[..., None]


def say(text: str) -> None:
    print(text, flush=True)


class Checks:
    """A script's checks by name, and its command line: <base_url> <api_key> <check> [args]."""

    def __init__(self) -> None:
        self.checks: dict[str, Check] = {}

    def __call__(self, function: Check) -> Check:
        self.checks[function.__name__] = function
        return function

    def main(self, argv: list[str]) -> int:
        if len(argv) < 4 or argv[3] not in self.checks:
            names = "|".join(self.checks)
            print(f"usage: {argv[0]} <base_url> <api_key> <{names}> [args...]", file=sys.stderr)
            return 2
        base_url, api_key, name, *args = argv[1:]
        client = Letta(base_url=base_url, token=api_key)
        try:
            self.checks[name](client, base_url, *args)
        except Exception:
            traceback.print_exc()
            return 1
        say(f"{name}: ok")
        return 0


def create_pair(client: Letta, name: str = "sarah-pal") -> AgentState:
    """A primary with sleep-time, in the shape of Letta's sleep-time examples."""
    agent = client.agents.create(
        name=name,
        memory_blocks=[
            {"value": "Name: ?", "label": "human"},
            {"value": "You are a helpful assistant.", "label": "persona"},
        ],
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        enable_sleeptime=True,
    )
    say(f"created agent {agent.id}, group {agent.multi_agent_group!r}")
    assert agent.multi_agent_group is not None, f"no multi_agent_group on {agent!r}"
    return agent
