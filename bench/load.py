"""Load (issue 7, item 7): 50 conversations at once for 60 s, a 300 ms model, sleep-time on,
two web processes and a worker: throughput, errors and lost block updates.

Each conversation is an agent with sleep-time on (a run after every third turn) and a
client thread that talks to it through one of the web processes. Two writers edit each
conversation's `human` block at the same time:

- its sleep-time runs: each inserts one unique line at the end of the block (the scripted
  sleep-time model calls memory_insert, then memory_finish_edits: two 300 ms calls);
- its client, every other turn: it reads the block, holds the text while its turn runs
  (as a person with the editor open would), then writes it back with one unique line
  added inside its own section and the version it read as `base_version`. When a run
  edited the block meanwhile, the server merges the two (memory/services.py).

The block keeps the two kinds of line apart (the client's section, then the run's lines
at the end), so the writes never touch the same lines, and the merge rules promise to keep
both. A lost update is then any of:

- a line the server acknowledged (the client's PATCH answered 200, or a run's edit the
  scripted model asked for) missing from the block's final value;
- a break in the block's history: versions not numbered 1, 2, 3... without a gap, a
  version whose previous value is not the value of the version before it, or a final
  value different from the last version's;
- a version count that does not match the writes: one version per acknowledged client
  write and per run edit, no more, no fewer.

Errors are failed requests (any non-2xx answer or transport error), turns that did not
end normally, and failed background runs (a failed run's edits are rolled back).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from itertools import pairwise
from typing import Any

import httpx

from bench.common import Context, summary
from bench.stack import MemoryEdits, Stack, create_agent, live_stack, send
from tests.live import wait_until

CONVERSATIONS = 50
SECONDS = 60
MODEL_SECONDS = 0.3
FREQUENCY = 3
EDIT_EVERY = 2  # a client edits its block every second turn
WEB_PROCESSES = 2
WORKER_PROCESSES = 6
SECTION_END = "[end of the person's notes]"


class Conversation:
    def __init__(self, index: int, agent: dict[str, Any]) -> None:
        self.index = index
        self.agent_id: str = agent["id"]
        self.block_id: str = next(b["id"] for b in agent["blocks"] if b["label"] == "human")
        self.turns: list[float] = []
        self.lines: list[str] = []  # acknowledged client lines
        self.merged = 0  # client writes the server had to merge with a run's edit
        self.errors: list[str] = []

    def talk(self, client: httpx.Client, until: float) -> None:
        number = 0
        while time.monotonic() < until:
            number += 1
            try:
                read = None
                if number % EDIT_EVERY == 0:
                    response = client.get(f"/v1/blocks/{self.block_id}")
                    response.raise_for_status()
                    read = response.json()
                started = time.perf_counter()
                send(client, self.agent_id, f"conversation {self.index} says {number}")
                self.turns.append(time.perf_counter() - started)
                if read is not None:
                    self._write(client, read, f"client-{self.index}-{number}")
            except (httpx.HTTPError, RuntimeError, KeyError) as error:
                self.errors.append(f"{type(error).__name__}: {str(error)[:200]}")

    def _write(self, client: httpx.Client, read: dict[str, Any], line: str) -> None:
        lines = read["value"].split("\n")
        lines.insert(lines.index(SECTION_END), line)
        response = client.patch(
            f"/v1/blocks/{self.block_id}",
            json={"value": "\n".join(lines), "base_version": read["version"]},
        )
        response.raise_for_status()
        self.lines.append(line)
        if response.json()["version"] != read["version"] + 1:
            self.merged += 1


def _history_breaks(block_id: str) -> list[str]:
    from memory.models import Block, BlockVersion

    block = Block.objects.get(pk=block_id)
    versions = list(BlockVersion.objects.filter(block_id=block_id).order_by("number"))
    problems = []
    if [v.number for v in versions] != list(range(1, len(versions) + 1)):
        problems.append(f"{block_id}: version numbers are not 1..{len(versions)}")
    for before, after in pairwise(versions):
        if after.previous_value != before.value:
            problems.append(f"{block_id}: version {after.number} does not follow {before.number}")
    if not versions or versions[-1].value != block.value or block.version != len(versions):
        problems.append(f"{block_id}: the block is not its last version")
    return problems


def _run_edits(agent_ids: list[str]) -> tuple[dict[str, str], set[str]]:
    """The lines the conversations' runs asked memory_insert to add (by tool call id), as
    their stored messages say, and the ids of the calls the tool refused."""
    from agents.models import Group, Message

    sleepers = Group.objects.filter(manager_agent_id__in=agent_ids).values("participants")
    messages = Message.objects.filter(agent_id__in=sleepers)
    attempted = {
        call["id"]: json.loads(call["arguments"])["new_str"]
        for calls in messages.filter(role="assistant").values_list("tool_calls", flat=True)
        for call in calls
        if call["name"] == "memory_insert"
    }
    refused = set(
        messages.filter(
            role="tool", tool_call_id__in=list(attempted), tool_status="error"
        ).values_list("tool_call_id", flat=True)
    )
    return attempted, refused


def _check(conversations: list[Conversation], edits: MemoryEdits) -> dict[str, Any]:
    from agents.models import Run
    from memory.models import ActorType, Block, BlockVersion

    block_ids = [c.block_id for c in conversations]
    agent_ids = [c.agent_id for c in conversations]
    finals = dict(Block.objects.filter(pk__in=block_ids).values_list("pk", "value"))
    present = {line for value in finals.values() for line in value.split("\n")}
    client_lines = [line for c in conversations for line in c.lines]
    attempted, refused = _run_edits(agent_ids)
    run_lines = [line for call, line in attempted.items() if call not in refused]
    versions = Counter(
        BlockVersion.objects.filter(block_id__in=block_ids).values_list("actor_type", flat=True)
    )
    runs = Counter(
        Run.objects.filter(primary_agent_id__in=agent_ids).values_list("status", flat=True)
    )
    breaks = [problem for block_id in block_ids for problem in _history_breaks(block_id)]
    lost_client = [line for line in client_lines if line not in present]
    lost_run = [line for line in run_lines if line not in present]
    # One version per write: the block's first, then one per acknowledged client write...
    extra_client_versions = versions[ActorType.USER] - len(conversations) - len(client_lines)
    # ...and one per edit a run made.
    extra_run_versions = versions[ActorType.AGENT] - len(run_lines)
    return {
        "client_writes_acknowledged": len(client_lines),
        "client_writes_merged_with_a_run_edit": sum(c.merged for c in conversations),
        "run_edits_made": len(run_lines),
        "run_edits_refused": len(refused),
        # Answers the scripted model gave that no run stored: a request the model client
        # retried after its answer was lost on the way (not an edit, so not a lost update).
        "model_answers_never_received": sorted(set(edits.lines) - set(attempted.values())),
        "versions_by_writer": dict(versions),
        "runs_by_status": dict(runs),
        "lost_client_lines": lost_client[:20],
        "lost_run_lines": lost_run[:20],
        "history_breaks": breaks[:20],
        "versions_without_a_write": {"client": extra_client_versions, "run": extra_run_versions},
        "lost_updates": len(lost_client)
        + len(lost_run)
        + len(breaks)
        + abs(extra_client_versions)
        + abs(extra_run_versions),
    }


def _start(stack: Stack) -> list[Conversation]:
    client = stack.client()
    conversations = []
    for index in range(CONVERSATIONS):
        agent = create_agent(
            client,
            f"conversation-{index}",
            enable_sleeptime=True,
            sleeptime_agent_frequency=FREQUENCY,
            memory_blocks=[
                {"label": "persona", "value": "I am a patient assistant."},
                {
                    "label": "human",
                    "value": f"Name: person {index}\n{SECTION_END}",
                    "limit": 200_000,
                },
            ],
        )
        conversations.append(Conversation(index, agent))
    return conversations


def run(ctx: Context) -> dict[str, Any]:
    from agents.models import ACTIVE_RUN_STATUSES, Run

    edits = MemoryEdits()
    ctx.llm.main.delay(MODEL_SECONDS)
    ctx.llm.sleeper.delay(MODEL_SECONDS)
    ctx.llm.sleeper.answer_with(edits)
    env = {"Q_WORKERS": str(WORKER_PROCESSES)}
    with live_stack(ctx, web=WEB_PROCESSES, worker=True, env=env) as stack:
        conversations = _start(stack)
        clients = [stack.client(index, timeout=120) for index in range(CONVERSATIONS)]
        until = time.monotonic() + SECONDS
        threads = [
            threading.Thread(target=c.talk, args=(clients[c.index], until)) for c in conversations
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        agent_ids = [c.agent_id for c in conversations]
        drain_started = time.perf_counter()
        wait_until(
            lambda: (
                not Run.objects.filter(
                    primary_agent_id__in=agent_ids, status__in=ACTIVE_RUN_STATUSES
                ).exists()
            ),
            timeout=120,
            what="the background runs to finish",
        )
        drained = time.perf_counter() - drain_started
        checks = _check(conversations, edits)
        errors = [error for c in conversations for error in c.errors]
        errors += [f"run {status}" for status in checks["runs_by_status"] if status != "completed"]
        errors += ["a run's edit was refused"] * checks["run_edits_refused"]
        if errors or checks["lost_updates"] or checks["model_answers_never_received"]:
            stack.keep_logs = True  # for a look at what happened
            checks["logs"] = str(stack.logs)
    turns = [seconds for c in conversations for seconds in c.turns]
    return {
        "conversations": CONVERSATIONS,
        "seconds": SECONDS,
        "model_seconds": MODEL_SECONDS,
        "sleeptime_frequency": FREQUENCY,
        "web_processes": WEB_PROCESSES,
        "worker_processes": WORKER_PROCESSES,
        "turns": len(turns),
        "turns_per_second": round(len(turns) / elapsed, 1),
        "turn_latency": summary(turns),
        "errors": len(errors),
        "error_samples": errors[:10],
        "seconds_to_finish_background_runs": round(drained, 1),
        **checks,
        "target": "zero errors, zero lost updates",
    }
