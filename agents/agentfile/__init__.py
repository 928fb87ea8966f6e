"""Agent Files (`.af`, the JSON format of letta-ai/agent-file): an agent with its memory,
tools, history, sleep-time group and sources, exported and imported as Letta's server
does. The API (`/v1/agents/import`, `/v1/agents/{id}/export`) and the ADE's import form
and export link call these functions.

- `document`: reading and checking a file (framework-free), every problem with its path,
  into the `entries` it holds, with the typed readers of `values`;
- `messages`: a history in Letta's message shape and back;
- `exporting` and `importing`: the two directions;
- `parts`: what the sources app adds (its sources and files), registered when it starts.
"""

from __future__ import annotations

from agents.agentfile.entries import AgentFileInvalid
from agents.agentfile.exporting import export_agent_file
from agents.agentfile.importing import (
    ImportOptions,
    check_size,
    import_agent_file,
    parse_agent_file,
)
from agents.agentfile.parts import register_sources

__all__ = [
    "AgentFileInvalid",
    "ImportOptions",
    "check_size",
    "export_agent_file",
    "import_agent_file",
    "parse_agent_file",
    "register_sources",
]
