"""The agent factory of suite.yaml: a sleep-time agent per sample, which has been told the
sample's fact and whose sleep-time agent has finished filing it before Letta Code runs.

Runs inside letta-evals (its own virtualenv), with the AsyncLetta client letta-evals
made for the suite's base URL and key. No `from __future__ import annotations` here:
letta-evals checks the factory's annotations as objects (`-> str`), not as strings.
"""

import asyncio
import time

from letta_client import AsyncLetta
from letta_evals.decorators import agent_factory
from letta_evals.models import Sample

# The suite's model handle (suite.yaml target.model_handles).
MODEL = "openai/gpt-4.1"
RUN_TIMEOUT = 30.0


@agent_factory
async def create_agent(client: AsyncLetta, sample: Sample) -> str:
    extra = (sample.agent_args or {})["extra"]
    agent = await client.agents.create(
        name=f"evals-{sample.id}",
        model=MODEL,
        memory_blocks=[
            {"label": "human", "value": ""},
            {"label": "persona", "value": "You are a helpful assistant."},
        ],
        enable_sleeptime=True,
    )
    response = await client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": extra["tell"]}]
    )
    # The first turn starts the sleep-time agent's run; the answer names it.
    run_ids = list(getattr(response.usage, "run_ids", None) or [])
    if not run_ids:
        raise RuntimeError(f"no sleep-time run started for {agent.id}: {response.usage!r}")
    deadline = time.monotonic() + RUN_TIMEOUT
    for run_id in run_ids:
        while (run := await client.runs.retrieve(run_id)).status not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} still {run.status} after {RUN_TIMEOUT} s")
            await asyncio.sleep(0.2)
        if run.status != "completed":
            raise RuntimeError(f"run {run_id} ended {run.status}")
    return agent.id
