"""Running Letta's own clients (Letta Code, the node.js SDKs, letta-evals) against a live
Reverie, and reading what the server answered them.

The clients are installed by `make test` at pinned versions: the node packages from
`tests/clients/package-lock.json` into `tests/clients/node_modules` (npm ci
--ignore-scripts), letta-evals into `.venv-evals`. Every client runs as a subprocess with
an environment built here: a temporary HOME (Letta Code writes its settings there and
into its working directory), the server's URL and key, and the switches that keep Letta
Code off the network (its telemetry posts to Letta's cloud and its update check asks npm,
then installs what it finds, unless they are off).

The server's access log (daphne's, one line per answered request) says what each client
asked and what it got; `AccessLog` reads the lines written since a test began.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLIENTS = Path(__file__).resolve().parent
ROOT = CLIENTS.parent.parent
NODE_MODULES = CLIENTS / "node_modules"
LETTA_CODE = NODE_MODULES / "@letta-ai" / "letta-code" / "letta.js"
EVALS_VENV = ROOT / ".venv-evals"

# Letta Code's switches for a machine with no network beyond loopback: telemetry is on by
# default even against a self-hosted server, and the update check installs what it finds.
QUIET_LETTA_CODE = {
    "LETTA_CODE_TELEM": "0",  # no telemetry batches to api.letta.com
    "DISABLE_AUTOUPDATER": "1",  # no npm version check (and no npm install -g)
    "LETTA_DISABLE_LSP_DOWNLOAD": "1",
    "NO_COLOR": "1",
}


def require(path: Path, what: str) -> None:
    """Fail with the make target that installs `path` if it is missing."""
    if not path.exists():
        pytest.fail(
            f"{path} is missing: {what} is needed for these tests. Install it with "
            "`make test` (or `make tests/clients/node_modules/.installed .venv-evals/.installed`).",
            pytrace=False,
        )


def client_env(base_url: str, api_key: str, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a client subprocess: the test process's, minus anything that
    would point a client elsewhere, plus the server, the key and a HOME of its own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LETTA_", "OPENAI_", "ANTHROPIC_"))
    }
    home.mkdir(parents=True, exist_ok=True)
    env.update(QUIET_LETTA_CODE)
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "LETTA_BASE_URL": base_url,
            "LETTA_API_KEY": api_key,
            "PATH": f"{NODE_MODULES / '.bin'}{os.pathsep}{env.get('PATH', '')}",
            "NODE_PATH": str(NODE_MODULES),
        }
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class Finished:
    """A client process that has ended: its exit code and what it printed."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.command)}\n(exit {self.returncode})\n"
            f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}"
        )


def run(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float = 60,
    stdin: str | None = None,
) -> Finished:
    """Run a client to its end (killed after `timeout` seconds) and keep its output."""
    try:
        done = subprocess.run(
            command,
            env=env,
            cwd=cwd,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        output = error.stdout or ""
        errors = error.stderr or ""
        return Finished(
            command,
            -9,
            output if isinstance(output, str) else output.decode(errors="replace"),
            (errors if isinstance(errors, str) else errors.decode(errors="replace"))
            + f"\n[killed after {timeout} s]",
        )
    finished = Finished(command, done.returncode, done.stdout, done.stderr)
    print(finished.describe())  # shown by pytest -rP or on failure
    return finished


def node_script(
    name: str,
    *args: str,
    env: dict[str, str],
    cwd: Path,
    log: AccessLog,
    timeout: float = 60,
) -> Any:
    """Run `tests/clients/<name>` with node; it prints one JSON object as its last line,
    which is returned. Fails the test with its output and the server's answers if it exits
    non-zero."""
    require(NODE_MODULES / ".installed", "the node packages of tests/clients")
    finished = run(["node", str(CLIENTS / name), *args], env=env, cwd=cwd, timeout=timeout)
    context = f"{finished.describe()}\n--- server answered ---\n{log.describe()}"
    assert finished.returncode == 0, context
    lines = [line for line in finished.stdout.splitlines() if line.strip()]
    assert lines, context
    return json.loads(lines[-1])


# --- What the server answered ---------------------------------------------------------------

# 127.0.0.1:53266 - - [02/Dec/2026:19:55:54] "POST /v1/agents/" 400 314
_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3}) ')


@dataclass(frozen=True)
class Answered:
    method: str
    path: str
    status: int

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class AccessLog:
    """Daphne's access log of the clients' stack, read from where a test began."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0

    def requests(self) -> list[Answered]:
        """Every request answered since this object was made, in the order answered."""
        # An answer is logged when its last byte is sent; give a just-finished client's
        # last line a moment to land.
        time.sleep(0.2)
        with open(self.path, "rb") as log:
            log.seek(self.start)
            text = log.read().decode(errors="replace")
        answered = []
        for line in text.splitlines():
            match = _ACCESS_LINE.search(line)
            if match and match["path"].startswith("/v1/"):
                answered.append(Answered(match["method"], match["path"], int(match["status"])))
        return answered

    def failures(self) -> list[Answered]:
        """The requests answered with anything but a 2xx."""
        return [answer for answer in self.requests() if not 200 <= answer.status < 300]

    def describe(self) -> str:
        return "\n".join(str(answer) for answer in self.requests())
