"""The built-in tools an agent can call, their JSON schemas and their executors.

Feature apps add theirs with `register` (forgetting/tools.py); this table imports none.

A tool returns a string for the model. A tool that cannot do what was asked raises
ToolError (or memory.editing.EditRefused); the model then sees the reason as a failed
tool result and nothing has changed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from agents.models import Agent, AgentType, Conversation, Insight, Message
from agents.threads import Thread
from config.errors import InvalidRequest
from memory import editing, events
from memory import services as memory_services
from memory.models import Passage
from toolbox import running as toolbox_running
from toolbox import services as toolbox_services
from toolbox.models import Tool as StoredTool


class ToolError(Exception):
    """A tool refused or failed; the message is shown to the model."""


@dataclass(frozen=True)
class ToolContext:
    agent: Agent
    turn_id: str
    run_id: str = ""
    tool_call_id: str = ""
    # label -> block version the model was shown this step (see memory_rethink).
    seen_versions: dict[str, int] = field(default_factory=dict)
    # Where the turn happens; its conversation's isolated blocks take edits of their label.
    thread: Thread | None = None
    # The turn reads untrusted input (memory/guards.py).
    untrusted: bool = False
    # Filled as the turn goes: the guards' refusals and the proposals edits became.
    refusals: list[dict[str, str]] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)
    # What the turn's searches brought in that nobody vouches for (an untrusted source's
    # passages, an untrusted conversation's messages): from then on the turn reads
    # untrusted input, whatever it started from.
    read_untrusted: list[str] = field(default_factory=list)

    @property
    def actor(self) -> memory_services.Actor:
        return memory_services.Actor.for_agent(
            self.agent.id,
            self.run_id,
            self.tool_call_id,
            untrusted=self.untrusted or bool(self.read_untrusted),
        )

    def came_across(self, what: str) -> None:
        """The turn read untrusted input: `what` says which, for the run."""
        if what not in self.read_untrusted:
            self.read_untrusted.append(what)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[..., str]
    terminal: bool = False
    tool_type: str = "letta_core"

    @property
    def id(self) -> str:
        # Stable across processes and restarts, so clients can cache tool ids.
        return f"tool-{uuid.uuid5(uuid.NAMESPACE_URL, 'reverie:' + self.name)}"

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def object_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_STR = {"type": "string"}


# --- Conversation --------------------------------------------------------------------------


def send_message(ctx: ToolContext, message: str) -> str:
    if not isinstance(message, str) or not message.strip():
        raise ToolError("send_message needs a non-empty `message`.")
    return "Sent message successfully."


def _parse_bound(value: str | None, *, end: bool) -> datetime | None:
    """ISO date or datetime; a bare end date means the end of that day."""
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ToolError(
                f"Could not read the date {value!r}; use YYYY-MM-DD or YYYY-MM-DDTHH:MM."
            )
        moment = datetime.combine(day, time.max if end else time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def _time_ago(moment: datetime) -> str:
    delta = timezone.now() - moment
    if delta < timedelta(minutes=1):
        return "just now"
    if delta < timedelta(hours=1):
        return f"{int(delta.total_seconds() // 60)} minutes ago"
    if delta < timedelta(days=1):
        return f"{int(delta.total_seconds() // 3600)} hours ago"
    return f"{delta.days} days ago"


def conversation_search(
    ctx: ToolContext,
    query: str | None = None,
    roles: list[str] | None = None,
    limit: int | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> str:
    allowed = {"user", "assistant"}
    wanted = set(roles or allowed)
    if not wanted <= allowed | {"tool"}:
        raise ToolError("roles may contain only 'user', 'assistant' and 'tool'.")
    wanted &= allowed  # tool chatter is not conversation; it is never returned
    # This turn's own messages are excluded: the model already sees them.
    messages = Message.objects.filter(agent=ctx.agent, role__in=wanted).exclude(turn_id=ctx.turn_id)
    if query:
        messages = messages.filter(Q(content__icontains=query) | Q(tool_calls__icontains=query))
    start = _parse_bound(start_date, end=False)
    end = _parse_bound(end_date, end=True)
    if start:
        messages = messages.filter(created_at__gte=start)
    if end:
        messages = messages.filter(created_at__lte=end)
    count = max(1, min(int(limit or 5), 50))
    results = []
    shown: set[str] = set()  # the conversations the results come from
    for message in messages.order_by("-seq")[: count * 3]:
        text = message.content
        if message.role == "assistant":
            text = message.content or _send_message_text(message.tool_calls)
        if not text or (query and query.lower() not in text.lower()):
            continue
        if message.conversation_id:
            shown.add(message.conversation_id)
        results.append(
            {
                "timestamp": message.created_at.isoformat(timespec="seconds"),
                "time_ago": _time_ago(message.created_at),
                "role": message.role,
                "content": text,
            }
        )
        if len(results) == count:
            break
    if not results:
        return "No results found."
    for conversation in Conversation.objects.filter(pk__in=shown, trusted=False).only("id"):
        ctx.came_across(f"conversation:{conversation.id}")
    return json.dumps({"message": f"Showing {len(results)} results:", "results": results})


def _send_message_text(tool_calls: list[dict[str, Any]]) -> str:
    for call in tool_calls or []:
        if call.get("name") == "send_message":
            try:
                return str(json.loads(call.get("arguments") or "{}").get("message", ""))
            except (ValueError, AttributeError):
                return ""
    return ""


def archival_memory_insert(ctx: ToolContext, content: str, tags: list[str] | None = None) -> str:
    try:
        memory_services.insert_passage(ctx.agent, content, tags=tags)
    except InvalidRequest as error:
        raise ToolError(error.message) from None
    return "Stored in archival memory."


def archival_memory_search(
    ctx: ToolContext,
    query: str,
    tags: list[str] | None = None,
    tag_match_mode: str = "any",
    top_k: int | None = None,
    start_datetime: str | None = None,
    end_datetime: str | None = None,
) -> str:
    if tag_match_mode not in {"any", "all"}:
        raise ToolError("tag_match_mode must be 'any' or 'all'.")
    passages = memory_services.search_passages(
        ctx.agent,
        query,
        top_k=int(top_k or 5),
        tags=tags,
        tag_match_mode=tag_match_mode,  # type: ignore[arg-type]
        start=_parse_bound(start_datetime, end=False),
        end=_parse_bound(end_datetime, end=True),
    )
    untrusted = Passage.objects.filter(
        pk__in=[passage.pk for passage in passages], source__trusted=False
    ).values_list("source_id", flat=True)
    for source_id in sorted(set(untrusted)):
        ctx.came_across(f"source:{source_id}")
    return json.dumps(
        [
            {
                "timestamp": passage.created_at.isoformat(timespec="seconds"),
                "content": passage.text,
                "tags": passage.tags,
            }
            for passage in passages
        ]
    )


# --- Memory editing ------------------------------------------------------------------------


def _edit(
    ctx: ToolContext, label: str, edit: Callable[[str], str], *, whole: bool = False, tool: str
) -> str:
    try:
        done = memory_services.edit_block_as_agent(
            ctx.agent,
            label,
            edit,
            ctx.actor,
            expected_version=ctx.seen_versions.get(label) if whole else None,
            isolated=ctx.thread.isolated() if ctx.thread is not None else None,
        )
    except editing.GuardRefused as refused:
        ctx.refusals.append(
            {"label": label, "tool": tool, "guard": refused.guard, "reason": refused.message}
        )
        raise
    # The agent knows what it just wrote, so its own edit does not make its view stale.
    ctx.seen_versions[label] = done.block.version
    if done.proposal is not None:
        if done.proposal.id not in ctx.proposals:
            ctx.proposals.append(done.proposal.id)
        # The prompt shows the block as it is, not as proposed: without the proposed
        # text here, a model rewriting the block would drop the edits waiting for review.
        return (
            f"Your edit of the block `{label}` was saved as a proposal for a person to "
            f"review ({' '.join(done.proposal.reasons)}). The block keeps its current "
            "value until it is accepted; further edits of it in this run add to the same "
            "proposal and apply to the proposed text, which is now:\n"
            f"{done.proposal.proposed_value}"
        )
    return (
        f"The core memory block with label `{label}` has been edited. Review the changes "
        "and make sure they are as expected (correct indentation, no duplicate lines, "
        "etc). Edit the memory block again if necessary."
    )


def core_memory_append(ctx: ToolContext, label: str, content: str) -> str:
    return _edit(
        ctx,
        label,
        lambda value: editing.core_memory_append(value, label, content),
        tool="core_memory_append",
    )


def core_memory_replace(ctx: ToolContext, label: str, old_content: str, new_content: str) -> str:
    return _edit(
        ctx,
        label,
        lambda value: editing.core_memory_replace(value, label, old_content, new_content),
        tool="core_memory_replace",
    )


def memory_replace(ctx: ToolContext, label: str, old_str: str, new_str: str) -> str:
    return _edit(
        ctx,
        label,
        lambda value: editing.memory_replace(value, label, old_str, new_str),
        tool="memory_replace",
    )


def memory_insert(ctx: ToolContext, label: str, new_str: str, insert_line: int = -1) -> str:
    try:
        line = int(insert_line)
    except (TypeError, ValueError):
        raise ToolError("insert_line must be an integer.") from None
    return _edit(
        ctx,
        label,
        lambda value: editing.memory_insert(value, label, new_str, line),
        tool="memory_insert",
    )


def memory_rethink(ctx: ToolContext, label: str, new_memory: str) -> str:
    return _edit(
        ctx,
        label,
        lambda value: editing.memory_rethink(value, label, new_memory),
        whole=True,
        tool="memory_rethink",
    )


def memory_finish_edits(ctx: ToolContext) -> str:
    return "None"


SEVERITIES = ("info", "warning", "critical")


def surface_insight(ctx: ToolContext, title: str, body: str, severity: str = "info") -> str:
    if severity not in SEVERITIES:
        raise ToolError(f"severity must be one of {', '.join(SEVERITIES)}.")
    if not str(title).strip() or not str(body).strip():
        raise ToolError("An insight needs a title and a body.")
    if len(title) > 200:
        raise ToolError("Keep the title under 200 characters; put details in the body.")
    # A sleep-time agent surfaces insights for the primary whose conversation it reads.
    group = ctx.agent.participant_groups.select_related("manager_agent").first()
    primary = group.manager_agent if group is not None else ctx.agent
    insight = Insight.objects.create(
        agent=primary, run_id=ctx.run_id, title=title.strip(), body=body, severity=severity
    )
    events.publish_insight_created(insight.id, primary.id)
    return "The insight was recorded and will be shown to the user."


_LABEL = {"type": "string", "description": "Label of the memory block to edit."}

TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in [
        Tool(
            "send_message",
            "Send a message to the user. This ends your turn.",
            object_schema(
                {"message": {"type": "string", "description": "The message text."}}, ["message"]
            ),
            send_message,
            terminal=True,
        ),
        Tool(
            "conversation_search",
            "Search earlier messages of this conversation (not the current turn).",
            object_schema(
                {
                    "query": {"type": "string", "description": "Text to look for."},
                    "roles": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["user", "assistant"]},
                        "description": "Only messages from these roles.",
                    },
                    "limit": {"type": "integer", "description": "At most this many results (5)."},
                    "start_date": {
                        "type": "string",
                        "description": "YYYY-MM-DD[THH:MM], inclusive.",
                    },
                    "end_date": {"type": "string", "description": "YYYY-MM-DD[THH:MM], inclusive."},
                },
                [],
            ),
            conversation_search,
        ),
        Tool(
            "archival_memory_insert",
            "Store a fact or note in long-term archival memory, to find later by search.",
            object_schema(
                {
                    "content": {"type": "string", "description": "What to remember."},
                    "tags": {"type": "array", "items": _STR, "description": "Optional tags."},
                },
                ["content"],
            ),
            archival_memory_insert,
        ),
        Tool(
            "archival_memory_search",
            "Search archival memory by meaning; returns the closest stored passages.",
            object_schema(
                {
                    "query": {"type": "string", "description": "What to look for."},
                    "tags": {"type": "array", "items": _STR, "description": "Filter by tags."},
                    "tag_match_mode": {"type": "string", "enum": ["any", "all"]},
                    "top_k": {"type": "integer", "description": "How many results (5)."},
                    "start_datetime": {"type": "string", "description": "ISO date or datetime."},
                    "end_datetime": {"type": "string", "description": "ISO date or datetime."},
                },
                ["query"],
            ),
            archival_memory_search,
        ),
        Tool(
            "core_memory_append",
            "Append text to a core memory block, on a new line.",
            object_schema({"label": _LABEL, "content": _STR}, ["label", "content"]),
            core_memory_append,
        ),
        Tool(
            "core_memory_replace",
            "Replace every occurrence of old_content in a core memory block with new_content.",
            object_schema(
                {"label": _LABEL, "old_content": _STR, "new_content": _STR},
                ["label", "old_content", "new_content"],
            ),
            core_memory_replace,
        ),
        Tool(
            "memory_replace",
            "Replace one exact, unique occurrence of old_str in a memory block with new_str. "
            "Do not include line numbers.",
            object_schema(
                {"label": _LABEL, "old_str": _STR, "new_str": _STR},
                ["label", "old_str", "new_str"],
            ),
            memory_replace,
            tool_type="letta_sleeptime_core",
        ),
        Tool(
            "memory_insert",
            "Insert text into a memory block after line insert_line (0: at the top, "
            "-1: at the end). Do not include line numbers.",
            object_schema(
                {"label": _LABEL, "new_str": _STR, "insert_line": {"type": "integer"}},
                ["label", "new_str"],
            ),
            memory_insert,
            tool_type="letta_sleeptime_core",
        ),
        Tool(
            "memory_rethink",
            "Rewrite a whole memory block with new_memory, to reorganise or condense it.",
            object_schema({"label": _LABEL, "new_memory": _STR}, ["label", "new_memory"]),
            memory_rethink,
            tool_type="letta_sleeptime_core",
        ),
        Tool(
            "memory_finish_edits",
            "Call when you have finished editing memory. This ends your run.",
            object_schema({}, []),
            memory_finish_edits,
            terminal=True,
            tool_type="letta_sleeptime_core",
        ),
        Tool(
            "surface_insight",
            "Tell the user about something important you noticed that they did not ask "
            "about: a pattern, a risk, a contradiction. Use sparingly.",
            object_schema(
                {
                    "title": {"type": "string", "description": "One line."},
                    "body": {"type": "string", "description": "The insight and why it matters."},
                    "severity": {"type": "string", "enum": list(SEVERITIES)},
                },
                ["title", "body"],
            ),
            surface_insight,
            tool_type="letta_sleeptime_core",
        ),
    ]
}

BASE_TOOLS = [
    "send_message",
    "conversation_search",
    "archival_memory_insert",
    "archival_memory_search",
    "core_memory_append",
    "core_memory_replace",
]
SLEEPTIME_TOOLS = [
    "memory_replace",
    "memory_insert",
    "memory_rethink",
    "memory_finish_edits",
    "surface_insight",
]
# The tools that change a memory block (the guards of memory/guards.py watch them).
MEMORY_EDIT_TOOLS = frozenset(
    {
        "core_memory_append",
        "core_memory_replace",
        "memory_replace",
        "memory_insert",
        "memory_rethink",
    }
)
SLEEPTIME_CHAT_TOOLS = ["send_message", "conversation_search", "archival_memory_search"]


def register(tool: Tool, *, sleeptime: bool = False) -> None:
    """Add a feature app's tool to the table (from its AppConfig.ready(), as forgetting
    does); with `sleeptime`, new sleep-time agents get it too."""
    TOOLS[tool.name] = tool
    if sleeptime and tool.name not in SLEEPTIME_TOOLS:
        SLEEPTIME_TOOLS.append(tool.name)


def default_rules(tool_names: list[str]) -> list[dict[str, str | None]]:
    """Letta's base rules for these tools, in the shape Letta returns rules in (and
    agents/tool_rules.py stores them in)."""
    return [
        {
            "tool_name": name,
            "type": "exit_loop" if TOOLS[name].terminal else "continue_loop",
            "prompt_template": None,
        }
        for name in tool_names
        if name in TOOLS
    ]


def offered(agent: Agent) -> list[dict[str, Any]]:
    """The schemas of the agent's tools, in its order: built-ins, and its organization's
    custom and MCP tools (one query, and only when it has some)."""
    others = toolbox_services.tools_named(
        agent.organization_id,
        [name for name in agent.tools if name not in TOOLS] if external_allowed(agent) else [],
    )
    schemas = []
    for name in agent.tools:
        if name in TOOLS:
            schemas.append(TOOLS[name].schema())
        elif name in others:
            schemas.append({"type": "function", "function": others[name].json_schema})
    return schemas


def external_allowed(agent: Agent) -> bool:
    """Whether the agent may call tools that are not built in: a sleep-time agent only
    where the deployment allows it (SLEEPTIME_EXTERNAL_TOOLS)."""
    return agent.agent_type != AgentType.SLEEPTIME or settings.SLEEPTIME_EXTERNAL_TOOLS


def requires_approval_by_default(agent: Agent, name: str) -> bool:
    """Whether the agent's tool `name` is one of its organization's made to wait for a
    person's approval before each call (Letta's `default_requires_approval`)."""
    if name in TOOLS:
        return False
    tool = toolbox_services.tools_named(agent.organization_id, [name]).get(name)
    return tool is not None and tool.default_requires_approval


def is_terminal(name: str) -> bool:
    """Whether a successful call ends the turn by itself (send_message does)."""
    tool = TOOLS.get(name)
    return tool is not None and tool.terminal


def execute(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> str:
    """Run tool `name`; raises ToolError with a message for the model when it can't."""
    tool = TOOLS.get(name)
    other = None
    if tool is None and name in ctx.agent.tools:
        if not external_allowed(ctx.agent):
            raise ToolError(
                f"Tool '{name}' is not built in, and this server lets sleep-time agents "
                "call built-in tools only (SLEEPTIME_EXTERNAL_TOOLS)."
            )
        other = toolbox_services.tools_named(ctx.agent.organization_id, [name]).get(name)
    if name not in ctx.agent.tools or (tool is None and other is None):
        available = ", ".join(ctx.agent.tools) or "none"
        raise ToolError(f"Tool '{name}' does not exist for this agent (available: {available}).")
    if other is not None:
        return _run_other(other, arguments)
    assert tool is not None
    required = tool.parameters.get("required", [])
    missing = [key for key in required if key not in arguments]
    if missing:
        raise ToolError(f"Missing required argument(s): {', '.join(missing)}.")
    known = set(tool.parameters.get("properties", {}))
    # Models sometimes add keys of their own (inner thoughts, heartbeats); they are ignored.
    accepted = {key: value for key, value in arguments.items() if key in known}
    try:
        return tool.run(ctx, **accepted)
    except editing.EditRefused as refused:
        raise ToolError(refused.message) from None
    except (TypeError, ValueError) as error:
        raise ToolError(f"Bad arguments for {name}: {error}") from None


def _run_other(tool: StoredTool, arguments: dict[str, Any]) -> str:
    """A custom tool (in the sandbox) or an MCP server's tool (on its server)."""
    parameters = tool.json_schema.get("parameters") or {}
    missing = [key for key in parameters.get("required", []) if key not in arguments]
    if missing:
        raise ToolError(f"Missing required argument(s): {', '.join(missing)}.")
    known = set(parameters.get("properties", {}))
    accepted = {key: value for key, value in arguments.items() if key in known}
    ok, text = toolbox_running.run(tool, accepted)
    if not ok:
        raise ToolError(text)
    return text
