"""Running checks with the letta-client 0.1.x SDK, which lives in `.venv-sdk0` (its
pinned dependencies do not fit the main virtualenv): each check is a function of a
script run with that virtualenv's Python against the live server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK0_PYTHON = ROOT / ".venv-sdk0" / "bin" / "python"


def run_v0_check(
    script: str, name: str, live_server_url: str, api_key: str, *args: str, timeout: int = 120
) -> None:
    """Run check `name` of `tests/sdk/<script>`; fail with its output if it fails."""
    if not SDK0_PYTHON.exists():
        pytest.fail(
            f"{SDK0_PYTHON} is missing: the letta-client 0.1.x virtualenv is needed for these "
            "tests. Create it with `make .venv-sdk0/.installed` (or run `make test`).",
            pytrace=False,
        )
    command = [str(SDK0_PYTHON), str(Path(__file__).parent / script)]
    result = subprocess.run(
        [*command, live_server_url, api_key, name, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    print(result.stdout, result.stderr, sep="")  # shown by pytest -rP or -s
    assert result.returncode == 0, (
        f"{script} check {name!r} failed (exit {result.returncode})\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
