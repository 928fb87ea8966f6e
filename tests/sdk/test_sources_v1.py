"""Data sources ("folders") through the official letta-client 1.x SDK, with a real worker.

1.x has no `sources`, `agents.sources` or `jobs` resources: a folder is created with
`folders.create`, attached with `agents.folders.attach`, filled with
`folders.files.upload`, and the upload is polled with `folders.files.retrieve` until its
`processing_status` is `completed` or `error`. The worker (`manage.py worker`) parses,
embeds and, for a sleep-time agent, digests the file: the scripted model's sleeper lane
answers the ephemeral document agent; its main lane answers the primary.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from letta_client import APIStatusError, Letta, NotFoundError

from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import active_run_ids, wait_until
from tests.sources.pdfs import corrupt_pdf, text_pdf

HANDBOOK_PAGES = [
    "Employee Handbook of Acme Corp.\n"
    "Vacation policy: every employee receives 25 paid vacation days per year.\n"
    "Unused vacation days carry over until March 31 of the next year.",
    "Remote work policy: employees may work remotely two days per week.\n"
    "Remote work needs the approval of the manager.",
    "Expense policy: submit receipts within 30 days through the expense portal.\n"
    "The security badge must be worn at all times in the office.",
]
PAGE_ONE = "every employee receives 25 paid vacation days per year"
LEARNED = "Vacation: 25 paid days a year; unused days carry over until March 31."
ENDED = ("completed", "error")


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


@pytest.fixture(autouse=True)
def _runs_settle(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """After a test that used the worker, let its runs end, so none of them answers
    from the next test's script."""
    yield
    if "worker" in request.fixturenames:
        with django_db_blocker.unblock():
            wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


@pytest.fixture
def handbook(tmp_path: Path) -> Path:
    path = tmp_path / "handbook.pdf"
    path.write_bytes(text_pdf(HANDBOOK_PAGES))
    return path


def create_pair(client: Letta, name: str = "pal") -> Any:
    return client.agents.create(
        name=name,
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[
            {"label": "human", "value": "Name: ?"},
            {"label": "persona", "value": "You are a helpful assistant."},
        ],
        enable_sleeptime=True,
    )


def create_folder(client: Letta, name: str = "employee_handbook") -> Any:
    return client.folders.create(
        name=name,
        description="Provides reference information for the employee handbook",
        embedding=TEST_EMBEDDING,
    )


def upload(client: Letta, folder_id: str, path: Path, **options: Any) -> Any:
    with open(path, "rb") as file:
        return client.folders.files.upload(file=file, folder_id=folder_id, **options)


def wait_for_file(client: Letta, folder_id: str, file_id: str) -> tuple[Any, list[str]]:
    """Poll the file until it is processed; return it and the statuses seen on the way."""
    seen: list[str] = []

    def ended() -> Any:
        current = client.folders.files.retrieve(file_id, folder_id=folder_id)
        if not seen or seen[-1] != current.processing_status:
            seen.append(str(current.processing_status))
        return current if current.processing_status in ENDED else None

    found = wait_until(ended, timeout=20, interval=0.1, what=f"file {file_id} to be processed")
    return found, seen


def folder_passages(client: Letta, folder_id: str) -> list[dict[str, Any]]:
    return client.get(f"/v1/folders/{folder_id}/passages", cast_to=object)


def block_labels(client: Letta, agent_id: str) -> set[str]:
    return {block.label for block in client.agents.blocks.list(agent_id).items}


def say(client: Letta, agent_id: str, text: str) -> Any:
    return client.agents.messages.create(
        agent_id=agent_id, messages=[{"role": "user", "content": text}]
    )


def digested_pair(client: Letta, llm: Any, handbook: Path, name: str = "pal") -> Any:
    """A sleep-time pair with the handbook folder attached and its file digested."""
    agent = create_pair(client, name=name)
    folder = create_folder(client)
    client.agents.folders.attach(folder_id=folder.id, agent_id=agent.id)
    llm.sleeper.tool_call("memory_insert", {"label": "employee_handbook", "new_str": LEARNED})
    uploaded = upload(client, folder.id, handbook)
    processed, _ = wait_for_file(client, folder.id, uploaded.id)
    assert processed.processing_status == "completed", processed
    block = client.agents.blocks.retrieve("employee_handbook", agent_id=agent.id)
    assert block.value == LEARNED
    return agent, folder, processed


# --- The folders flow ------------------------------------------------------------------------


def test_an_uploaded_pdf_is_digested_into_the_folder_block_and_searchable(
    client, worker, llm, handbook
):
    agent = create_pair(client, name="handbook-pal")
    sleeper_id = agent.multi_agent_group.agent_ids[0]
    folder = create_folder(client)
    assert folder.id.startswith("source-") and folder.name == "employee_handbook"
    client.agents.folders.attach(folder_id=folder.id, agent_id=agent.id)
    assert [f.id for f in client.agents.folders.list(agent.id).items] == [folder.id]
    llm.sleeper.tool_call("memory_insert", {"label": "employee_handbook", "new_str": LEARNED})

    uploaded = upload(client, folder.id, handbook)
    assert uploaded.file_name == "handbook.pdf"
    assert uploaded.processing_status in ("pending", "parsing", "embedding", "digesting")
    processed, seen = wait_for_file(client, folder.id, uploaded.id)

    assert processed.processing_status == "completed", (processed, seen)
    assert processed.error_message is None
    assert processed.total_chunks == 3
    assert processed.total_pages == 3
    assert processed.windows_digested == processed.total_windows == 1
    [listed] = client.folders.files.list(folder.id).items
    assert listed.id == uploaded.id and listed.processing_status == "completed"

    # The document agent wrote into the block named after the folder, shared by the pair.
    block = client.agents.blocks.retrieve("employee_handbook", agent_id=agent.id)
    assert block.value == LEARNED
    assert {a.id for a in client.blocks.agents.list(block.id)} == {agent.id, sleeper_id}
    assert "employee_handbook" in block_labels(client, sleeper_id)
    # It read the whole handbook in one window, and was then deleted.
    [window, finish] = llm.sleeper.requests
    assert "Part 1 of 1" in window["messages"][-1]["content"]
    assert all(page.splitlines()[1] in window["messages"][-1]["content"] for page in HANDBOOK_PAGES)
    assert finish["messages"][-1]["role"] == "tool"
    names = [a.name for a in client.agents.list().items]
    assert sorted(names) == ["handbook-pal", "handbook-pal-sleeptime"], names
    runs = client.get("/v1/runs", cast_to=object)
    [digest_run] = [run for run in runs if run["trigger"] == "digest"]
    assert digest_run["status"] == "completed" and digest_run["changed"] is True
    assert digest_run["metadata"]["file_id"] == uploaded.id

    # The document's passages are the agent's archival memory.
    found = client.agents.passages.search(agent_id=agent.id, query="paid vacation days")
    assert found.count >= 1 and PAGE_ONE in found.results[0].content, found
    assert len(folder_passages(client, folder.id)) == 3

    # The primary finds the document with its archival_memory_search tool.
    llm.tool_call("archival_memory_search", {"query": "how many paid vacation days"})
    response = say(client, agent.id, "How many vacation days do I get?")
    assert len(llm.main.requests) == 2
    [tool_result] = [m for m in llm.main.requests[1]["messages"] if m["role"] == "tool"]
    assert PAGE_ONE in tool_result["content"], tool_result
    returns = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert returns and PAGE_ONE in str(returns[0].tool_return)


def test_an_unsupported_file_type_is_refused_with_415(client, tmp_path):
    folder = create_folder(client, name="installers")
    program = tmp_path / "setup.exe"
    program.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" * 64)

    with pytest.raises(APIStatusError) as refused:
        upload(client, folder.id, program)

    assert refused.value.status_code == 415
    assert "setup.exe" in json.dumps(refused.value.body)
    assert client.folders.files.list(folder.id).items == []


def test_a_corrupt_pdf_ends_in_error_with_a_message_and_no_passages(client, worker, llm, tmp_path):
    agent = create_pair(client)
    folder = create_folder(client)
    client.agents.folders.attach(folder_id=folder.id, agent_id=agent.id)
    broken = tmp_path / "handbook.pdf"
    broken.write_bytes(corrupt_pdf())

    uploaded = upload(client, folder.id, broken)
    processed, seen = wait_for_file(client, folder.id, uploaded.id)

    assert processed.processing_status == "error", (processed, seen)
    assert processed.error_message and "PDF" in processed.error_message, processed
    assert folder_passages(client, folder.id) == []
    assert client.agents.passages.list(agent.id) == []
    assert llm.sleeper.requests == [], "a file that failed to parse was digested"
    assert "employee_handbook" not in block_labels(client, agent.id)


def test_a_duplicate_upload_with_skip_returns_the_same_file(client, worker, llm, handbook):
    folder = create_folder(client)
    first = upload(client, folder.id, handbook)
    processed, _ = wait_for_file(client, folder.id, first.id)
    assert processed.processing_status == "completed"

    again = upload(client, folder.id, handbook, duplicate_handling="skip")
    assert again.id == first.id
    assert again.processing_status == "completed"
    assert [f.id for f in client.folders.files.list(folder.id).items] == [first.id]
    assert len(folder_passages(client, folder.id)) == 3


def test_deleting_a_file_removes_its_passages_and_empties_the_block(client, worker, llm, handbook):
    agent, folder, processed = digested_pair(client, llm, handbook)
    assert len(client.agents.passages.list(agent.id)) == 3

    client.folders.files.delete(processed.id, folder_id=folder.id)

    with pytest.raises(NotFoundError):
        client.folders.files.retrieve(processed.id, folder_id=folder.id)
    assert folder_passages(client, folder.id) == []
    assert client.agents.passages.list(agent.id) == []
    assert client.agents.passages.search(agent_id=agent.id, query="vacation days").count == 0
    # What was learned from the file goes with it: the block is rebuilt from what remains.
    wait_until(
        lambda: client.agents.blocks.retrieve("employee_handbook", agent_id=agent.id).value == "",
        timeout=10,
        what="the block to be emptied",
    )


def test_detaching_the_folder_removes_its_block_from_the_pair(client, worker, llm, handbook):
    agent, folder, _ = digested_pair(client, llm, handbook)
    sleeper_id = agent.multi_agent_group.agent_ids[0]
    assert "employee_handbook" in block_labels(client, sleeper_id)

    client.agents.folders.detach(folder_id=folder.id, agent_id=agent.id)

    assert client.agents.folders.list(agent.id).items == []
    assert "employee_handbook" not in block_labels(client, agent.id)
    assert "employee_handbook" not in block_labels(client, sleeper_id)
    with pytest.raises(NotFoundError):
        client.agents.blocks.retrieve("employee_handbook", agent_id=agent.id)
    # The folder keeps its file; the agent no longer searches it.
    assert len(folder_passages(client, folder.id)) == 3
    assert client.agents.passages.list(agent.id) == []


# --- Listing: the 1.x SDK pages by `after` until a page is empty ---------------------------


def test_iterating_folders_and_their_files_yields_each_once(client, worker, llm, handbook):
    """Iterating a 1.x list sends the last id seen as `after` until a page comes back
    empty; capped here, as a server that ignores `after` makes the SDK loop for ever."""
    folders = [create_folder(client, name=name) for name in ("handbook_a", "handbook_b")]
    uploaded = upload(client, folders[0].id, handbook)
    wait_for_file(client, folders[0].id, uploaded.id)

    seen = [f.id for f in itertools.islice(client.folders.list(), 20)]
    assert seen == [f.id for f in folders], f"{len(seen)} folders yielded (capped at 20)"
    files = [f.id for f in itertools.islice(client.folders.files.list(folders[0].id), 20)]
    assert files == [uploaded.id], f"{len(files)} files yielded (capped at 20)"


def test_iterating_an_agents_folders_yields_each_folder_once(client):
    """`GET /v1/agents/{id}/folders` must honour `after`, or the SDK never stops."""
    agent = create_pair(client)
    folders = [create_folder(client, name=name) for name in ("handbook_a", "handbook_b")]
    for folder in folders:
        client.agents.folders.attach(folder_id=folder.id, agent_id=agent.id)

    seen = [f.id for f in itertools.islice(client.agents.folders.list(agent.id), 20)]
    assert seen == [f.id for f in folders], f"{len(seen)} folders yielded (capped at 20)"
    after_last = client.get(
        f"/v1/agents/{agent.id}/folders", cast_to=object, options={"params": {"after": seen[-1]}}
    )
    assert after_last == [], "a page after the last folder is not empty"
