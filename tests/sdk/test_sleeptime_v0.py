"""Sleep-time agents through the official letta-client 0.1.x SDK (Fern), with a real worker.

0.1.324 is the generation Letta's sleep-time example (`examples/sleeptime/
sleeptime_example.py`) was written for: `groups.modify` with `SleeptimeManagerUpdate`,
`agents.modify(enable_sleeptime=True)`, `runs.*`. Each test runs one check from
`sleeptime_v0_checks.py` in `.venv-sdk0`, against the live server, with a fresh user's key.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import active_run_ids, wait_until

ROOT = Path(__file__).resolve().parents[2]
SDK0_PYTHON = ROOT / ".venv-sdk0" / "bin" / "python"
CHECKS = Path(__file__).resolve().parent / "sleeptime_v0_checks.py"


@pytest.fixture(autouse=True)
def _runs_settle(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """After a test that used the worker, let its runs end before the next test scripts."""
    yield
    if "worker" in request.fixturenames:
        with django_db_blocker.unblock():
            wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def run_check(name: str, live_server_url: str, api_key: str) -> None:
    if not SDK0_PYTHON.exists():
        pytest.fail(
            f"{SDK0_PYTHON} is missing: the letta-client 0.1.x virtualenv is needed for these "
            "tests. Create it with `make .venv-sdk0/.installed` (or run `make test`).",
            pytrace=False,
        )
    result = subprocess.run(
        [str(SDK0_PYTHON), str(CHECKS), live_server_url, api_key, name],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    print(result.stdout, result.stderr, sep="")  # shown by pytest -rP or -s
    assert result.returncode == 0, (
        f"sleep-time v0 check {name!r} failed (exit {result.returncode})\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def test_the_0_1_sdk_runs_letta_s_sleeptime_example_with_a_worker(
    live_server_url, api_key, worker, llm
):
    run_check("seed_example", live_server_url, api_key)


def test_the_0_1_sdk_enables_sleeptime_on_a_plain_agent_and_shares_new_blocks(
    live_server_url, api_key, llm
):
    run_check("enables_sleeptime_on_a_plain_agent", live_server_url, api_key)


def test_the_0_1_sdk_cannot_change_a_group_s_manager_type(live_server_url, api_key, llm):
    run_check("refuses_a_new_manager_type", live_server_url, api_key)


def test_the_0_1_sdk_sees_the_group_and_sleeptime_agent_go_with_the_primary(
    live_server_url, api_key, llm
):
    run_check("deletes_the_pair_with_the_primary", live_server_url, api_key)


def test_the_0_1_sdk_lists_a_running_run_as_active(live_server_url, api_key, worker, llm):
    llm.sleeper.hold()
    try:
        run_check("lists_active_runs", live_server_url, api_key)
    finally:
        llm.sleeper.release()
