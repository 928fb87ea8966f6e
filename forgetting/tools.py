"""The forgetting app's tools, added to the agents' tool table when the app is ready
(forgetting/apps.py): `forget` for a primary that was given it, `memory_forget` for the
sleep-time agents that carry out a request to forget."""

from __future__ import annotations

from agents.tools import Tool, ToolContext, ToolError, object_schema, register
from config.errors import InvalidRequest
from forgetting.services import forget_in_block, request_forget

_LABEL = {"type": "string", "description": "Label of the memory block to edit."}


def memory_forget(ctx: ToolContext, label: str, old_str: str, new_str: str = "") -> str:
    block = forget_in_block(ctx.agent, label, old_str, new_str, actor=ctx.actor, run_id=ctx.run_id)
    ctx.seen_versions[label] = block.version
    return (
        f"The text was removed from the block `{label}` and from every earlier version of "
        "it. Continue with the next passage about the matter, or call memory_finish_edits."
    )


def forget(ctx: ToolContext, matter: str) -> str:
    try:
        job = request_forget(ctx.agent, matter, who=f"agent:{ctx.agent.id}")
    except InvalidRequest as error:
        raise ToolError(error.message) from None
    # The reply must not echo the matter: this very turn is purged once it ends.
    return (
        f"Forgetting was queued as job {job.id}. When this turn ends, every message, "
        "archival memory and memory-block text that mentions it is deleted, and the "
        "memory agent (if any) rewrites the blocks without it. Tell the user it is being "
        "forgotten without repeating what it is."
    )


def register_tools() -> None:
    register(
        Tool(
            "memory_forget",
            "Only when asked to forget a matter: remove old_str (verbatim, every occurrence) "
            "from a memory block and from the block's whole history, so it cannot be "
            "restored. new_str, if given, takes its place in the current value.",
            object_schema(
                {
                    "label": _LABEL,
                    "old_str": {"type": "string", "description": "The exact text to forget."},
                    "new_str": {
                        "type": "string",
                        "description": "Optional text that keeps unrelated facts.",
                    },
                },
                ["label", "old_str"],
            ),
            memory_forget,
            tool_type="letta_sleeptime_core",
        ),
        sleeptime=True,
    )
    register(
        Tool(
            "forget",
            "Forget a matter for good when the user asks you to (a project, a person, a "
            "secret): every message, archival memory and memory text that mentions it is "
            "deleted after this turn. Give its shortest distinctive name, e.g. 'Project "
            "Zephyr', not a sentence.",
            object_schema(
                {"matter": {"type": "string", "description": "What to forget."}}, ["matter"]
            ),
            forget,
        )
    )
