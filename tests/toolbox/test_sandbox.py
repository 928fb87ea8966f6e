"""Custom tools run in a sandbox: what they return and print comes back, and whatever a
hostile tool tries (an endless loop, a fork bomb, a 10 GB allocation, reading the
server's environment, the network, the database's socket, the project's files) ends as a
failed call the model can read, with the host unharmed. Real bubblewrap sandboxes, real
pip; a wheel built here stands in for PyPI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from toolbox.requirements import COMPLETE_MARKER
from toolbox.sandbox import RUNNER_IN_SANDBOX, SandboxUnavailable, available, run_python


@pytest.fixture(scope="session")
def envs_dir(tmp_path_factory: Any) -> Path:
    # One for the session: the shared empty environment is built once.
    return tmp_path_factory.mktemp("tool-envs")


@pytest.fixture(autouse=True)
def _sandbox_settings(settings: Any, envs_dir: Path) -> None:
    settings.TOOL_ENVS_DIR = envs_dir
    settings.TOOL_SANDBOX = "bwrap"
    settings.TOOL_TIMEOUT_SECONDS = 10
    settings.TOOL_MEMORY_MB = 512
    settings.TOOL_ALLOW_NETWORK = False
    if available() is not None:
        pytest.fail(f"The sandbox does not work on this machine: {available()}")


def _runner_processes() -> set[int]:
    """Processes running a tool, on the whole machine."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if RUNNER_IN_SANDBOX.encode() in command:
                found.add(int(entry))
    return found


def _wheel(directory: Path, name: str = "reverie_probe", version: str = "1.0") -> Path:
    """A pure-Python wheel whose package holds ANSWER = 42."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "ANSWER = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: reverie-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record += f"{path},sha256={digest.decode()},{len(text.encode())}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip finds packages only in a directory of wheels built here, never on PyPI."""
    _wheel(tmp_path)
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    return tmp_path


def test_a_tool_returns_its_value_and_what_it_printed():
    source = "def greet(name):\n    print('greeting', name)\n    return f'hello {name}'\n"

    outcome = run_python(source, "greet", {"name": "Ada"})

    assert outcome.ok
    assert outcome.value == "hello Ada"
    assert outcome.stdout == "greeting Ada\n"
    assert outcome.duration_ms > 0


def test_arguments_arrive_as_given_and_a_structured_result_comes_back_as_json():
    source = (
        "import json\n"
        "def helper(items):\n    return sorted(items)\n"
        "def echo(items, options, note):\n"
        "    return {'items': helper(items), 'options': options, 'note': note}\n"
    )

    outcome = run_python(
        source, "echo", {"items": [3, 1, 2], "options": {"deep": [None, True]}, "note": "été"}
    )

    assert outcome.ok
    assert outcome.value == (
        '{"items": [1, 2, 3], "options": {"deep": [null, true]}, "note": "été"}'
    )


def test_an_exception_reaches_the_model_as_its_type_message_and_line():
    source = "def check(n):\n    if n < 0:\n        raise ValueError('bad input')\n    return n\n"

    outcome = run_python(source, "check", {"n": -1})

    assert not outcome.ok
    assert outcome.value.splitlines()[0] == "ValueError: bad input"
    assert "line 3, in check: raise ValueError('bad input')" in outcome.value


def test_an_endless_loop_runs_out_of_time_and_the_call_returns():
    source = "def spin():\n    print('starting')\n    while True:\n        pass\n"

    started = time.monotonic()
    outcome = run_python(source, "spin", {}, timeout=2)

    assert not outcome.ok
    assert outcome.value == "the tool ran out of time (2 s)"
    assert outcome.stdout == "starting\n"
    assert time.monotonic() - started < 4


def test_a_fork_bomb_is_contained_and_the_host_keeps_working():
    source = (
        "import os\n"
        "def bomb():\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n"
    )
    before = _runner_processes()

    outcome = run_python(source, "bomb", {}, timeout=2)

    assert not outcome.ok
    assert outcome.value == "the tool ran out of time (2 s)"
    deadline = time.monotonic() + 5
    while _runner_processes() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _runner_processes() - before
    assert run_python("def ok():\n    return 'still here'\n", "ok", {}).value == "still here"


def test_a_tool_that_forks_sees_its_process_limit():
    source = (
        "import os, time\n"
        "def spawn():\n"
        "    children = 0\n"
        "    try:\n"
        "        while children < 1000:\n"
        "            if os.fork() == 0:\n"
        "                time.sleep(30)\n"
        "                os._exit(0)\n"
        "            children += 1\n"
        "    except OSError as error:\n"
        "        return f'{children} children, then {error.strerror}'\n"
    )

    outcome = run_python(source, "spawn", {})

    assert outcome.ok
    children = int(outcome.value.split()[0])
    assert children < 64 and "Resource temporarily unavailable" in outcome.value


def test_allocating_10_gb_runs_out_of_memory():
    source = "def hog():\n    return len(bytearray(10 * 1024**3))\n"

    outcome = run_python(source, "hog", {})

    assert not outcome.ok
    assert outcome.value == "the tool ran out of memory (limit 512 MB)"


def test_the_tool_sees_only_its_own_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SECRET_KEY", "server-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server")
    monkeypatch.setenv("DATABASE_URL", "postgres://server")
    source = "import os, json\ndef env():\n    return dict(os.environ)\n"

    outcome = run_python(source, "env", {}, environment={"WEATHER_TOKEN": "tool-secret"})

    assert outcome.ok
    seen = json.loads(outcome.value)
    assert seen["WEATHER_TOKEN"] == "tool-secret"
    assert set(seen) <= {"PATH", "HOME", "TMPDIR", "LANG", "PWD", "WEATHER_TOKEN"}
    assert "server" not in outcome.value


def test_a_tool_cannot_open_a_connection_to_a_loopback_server():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        source = (
            "import socket\n"
            "def call(port):\n"
            "    socket.create_connection(('127.0.0.1', port), timeout=2).sendall(b'hi')\n"
        )

        outcome = run_python(source, "call", {"port": port})

        assert not outcome.ok
        # The sandbox has a loopback of its own, where nothing listens.
        assert outcome.value.startswith("ConnectionRefusedError")
        with pytest.raises(BlockingIOError):
            server.accept()


def test_a_tool_cannot_reach_the_database_socket_nor_read_the_project_or_data_dir(
    settings: Any,
):
    database_host = settings.DATABASES["default"].get("HOST") or ""
    sockets = [
        str(path)
        for directory in [database_host, "/run/postgresql"]
        if directory.startswith("/")
        for path in Path(directory).glob(".s.PGSQL.*")
        if not path.name.endswith(".lock")
    ]
    assert sockets, "no Postgres socket to try"
    targets = [
        str(settings.BASE_DIR / "config" / "settings.py"),
        str(settings.DATA_DIR / "secret_key"),
        str(settings.DATA_DIR),
    ]
    source = (
        "import os, socket\n"
        "def probe(sockets, targets):\n"
        "    reached = []\n"
        "    for path in sockets:\n"
        "        try:\n"
        "            socket.socket(socket.AF_UNIX).connect(path)\n"
        "            reached.append(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "    for path in targets:\n"
        "        try:\n"
        "            with os.scandir(path) if os.path.isdir(path) else open(path):\n"
        "                reached.append(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return reached\n"
    )

    outcome = run_python(source, "probe", {"sockets": sockets, "targets": targets})

    assert outcome.ok
    assert outcome.value == "[]"


def test_reverie_s_own_packages_are_not_importable():
    outcome = run_python("def use():\n    import django\n", "use", {})

    assert not outcome.ok
    assert outcome.value.startswith("ModuleNotFoundError: No module named 'django'")


def test_requirements_are_installed_once_and_reused(local_index: Path, envs_dir: Path):
    source = "import reverie_probe\ndef answer():\n    return reverie_probe.ANSWER\n"
    requirements = [{"name": "reverie-probe", "version": "1.0"}]

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(
            pool.map(
                lambda _: run_python(source, "answer", {}, pip_requirements=requirements),
                range(2),
            )
        )

    assert [outcome.value for outcome in outcomes] == ["42", "42"]
    built = [
        marker
        for marker in envs_dir.glob(f"*/{COMPLETE_MARKER}")
        if "reverie-probe==1.0" in marker.read_text()
    ]
    assert len(built) == 1
    first_build = built[0].stat().st_mtime_ns
    again = run_python(source, "answer", {}, pip_requirements=requirements)
    assert again.value == "42"
    assert again.duration_ms < 3000
    assert built[0].stat().st_mtime_ns == first_build


def test_a_requirement_pip_cannot_install_fails_the_call_and_leaves_nothing(
    local_index: Path, envs_dir: Path
):
    before = set(envs_dir.iterdir())

    outcome = run_python(
        "def f():\n    return 1\n", "f", {}, pip_requirements=[{"name": "no-such-package"}]
    )

    assert not outcome.ok
    assert outcome.value.startswith("could not install the tool's requirements (no-such-package)")
    assert "no-such-package" in outcome.stderr
    assert {path for path in envs_dir.iterdir() if path.is_dir()} <= before


@pytest.mark.parametrize(
    "requirement",
    [
        {"name": "--index-url=https://evil.example/simple"},
        {"name": "https://evil.example/pkg.whl"},
        {"name": "../pkg"},
        {"name": "pkg; os_name=='posix'"},
        {"name": "pkg", "version": "1.0 --pre"},
    ],
)
def test_a_malformed_requirement_is_refused(requirement: dict[str, str]):
    with pytest.raises(ValueError):
        run_python("def f():\n    return 1\n", "f", {}, pip_requirements=[requirement])


def test_custom_tools_can_be_turned_off(settings: Any):
    settings.TOOL_SANDBOX = "off"

    assert "TOOL_SANDBOX=off" in (available() or "")
    with pytest.raises(SandboxUnavailable, match="turned off"):
        run_python("def f():\n    return 1\n", "f", {})
