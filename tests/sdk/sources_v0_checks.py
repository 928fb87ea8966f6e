"""Data-source checks run with the official letta-client 0.1.x SDK (Fern), unmodified.

Like `sleeptime_v0_checks.py`, this runs inside `.venv-sdk0` (letta-client==0.1.324, no
Django) and imports only the SDK, the standard library and `v0_harness.py` beside it:

    .venv-sdk0/bin/python tests/sdk/sources_v0_checks.py <base_url> <api_key> <check> [args...]

It runs one check, prints what it did, and exits 0 when every assertion holds.
`tests/sdk/test_sources_v0.py` drives it from pytest, with a worker running, after
scripting the sleeper lane of the fake model and writing the PDF the check uploads.
"""

from __future__ import annotations

import sys
import time

from letta_client import Letta
from v0_harness import TEST_EMBEDDING, Checks, create_pair, say

# Written by the scripted sleeper (see test_sources_v0.py) into the source's block.
LEARNED = "Vacation: 25 paid days a year; unused days carry over until March 31."
# Text of the handbook's first page, as the parser extracts it.
PAGE_ONE = "every employee receives 25 paid vacation days per year"
JOB_TIMEOUT = 30.0

check = Checks()


def value_of(status: object) -> str:
    return str(getattr(status, "value", status))


# --- the checks ------------------------------------------------------------------------------


@check
def seed_data_source_example(client: Letta, base_url: str, pdf_path: str) -> None:
    """Letta's data-source example for sleep-time agents, in the shape its docs give it."""
    agent = create_pair(client)
    [sleeper_id] = agent.multi_agent_group.agent_ids

    source = client.sources.create(
        name="employee_handbook",
        description="Provides reference information for the employee handbook",
        embedding=TEST_EMBEDDING,
    )
    say(f"created source {source.id} ({source.name})")
    assert source.id and source.name == "employee_handbook", source
    assert client.sources.retrieve_by_name("employee_handbook") == source.id

    client.agents.sources.attach(source_id=source.id, agent_id=agent.id)
    attached = [s.id for s in client.agents.sources.list(agent_id=agent.id)]
    assert attached == [source.id], f"agents.sources.list gave {attached}"
    assert client.sources.get_agents_for_source(source_id=source.id) == [agent.id]

    # As the example: upload, then poll the "job" (the upload's id) until it completes.
    job = client.sources.files.upload(file=open(pdf_path, "rb"), source_id=source.id)
    say(f"uploaded: id {job.id}, status {job.status}")
    file_id = job.id
    deadline = time.monotonic() + JOB_TIMEOUT
    seen = [value_of(job.status)]
    while job.status != "completed":
        assert job.status != "failed", f"the job failed: {job!r}"
        assert time.monotonic() < deadline, f"job still {job.status} after {JOB_TIMEOUT} s"
        time.sleep(0.1)
        job = client.jobs.retrieve(job.id)
        if value_of(job.status) != seen[-1]:
            seen.append(value_of(job.status))
    say(f"job statuses: {seen}; metadata {job.metadata!r}")
    assert job.id == file_id, f"jobs.retrieve returned {job.id} for {file_id}"
    assert seen[0] in ("created", "running"), seen
    assert job.metadata.get("num_passages", 0) >= 3, job.metadata

    [listed] = client.sources.files.list(source_id=source.id)
    say(f"file: {listed.file_name} {listed.processing_status!r} pages {listed.total_pages}")
    assert listed.id == file_id and listed.file_name == "handbook.pdf", listed
    assert value_of(listed.processing_status) == "completed", listed
    metadata = client.sources.get_file_metadata(source_id=source.id, file_id=file_id)
    assert value_of(metadata.processing_status) == "completed", metadata

    block = client.agents.blocks.retrieve(agent_id=agent.id, block_label="employee_handbook")
    say(f"block employee_handbook: {block.value!r}")
    assert LEARNED in block.value, f"the block holds {block.value!r}"
    sharing = sorted(a.id for a in client.blocks.agents.list(block_id=block.id))
    say(f"agents sharing the block: {sharing}")
    assert sharing == sorted([agent.id, sleeper_id]), f"blocks.agents.list gave {sharing}"
    sleeper_block = client.agents.blocks.retrieve(agent_id=sleeper_id, block_label=block.label)
    assert sleeper_block.id == block.id, f"the sleep-time agent has {sleeper_block!r}"

    passages = client.agents.passages.list(agent_id=agent.id)
    say(f"{len(passages)} archival passages")
    assert any(PAGE_ONE in p.text for p in passages), [p.text for p in passages]
    source_passages = client.sources.passages.list(source_id=source.id)
    assert sorted(p.id for p in source_passages) == sorted(p.id for p in passages), (
        "the agent's archival memory is not its source's passages"
    )

    found = client.agents.passages.search(agent_id=agent.id, query="paid vacation days")
    say(f"search: {found.count} results, first {found.results[0].content[:80]!r}")
    assert found.count >= 1 and PAGE_ONE in found.results[0].content, found

    names = [a.name for a in client.agents.list()]
    say(f"agents: {names}")
    assert not [n for n in names if n.endswith("-doc-sleeptime")], names
    assert sorted(names) == ["sarah-pal", "sarah-pal-sleeptime"], names

    runs = [r for r in client.runs.list() if getattr(r, "trigger", None) == "digest"]
    say(f"digest runs: {[(r.id, value_of(r.status)) for r in runs]}")
    assert len(runs) == 1 and value_of(runs[0].status) == "completed", runs
    assert runs[0].metadata["file_id"] == file_id, runs[0].metadata


if __name__ == "__main__":
    sys.exit(check.main(sys.argv))
