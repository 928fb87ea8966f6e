"""Sleep-time agents through the official letta-client 0.1.x SDK (Fern), with a real worker.

0.1.324 is the generation Letta's sleep-time example (`examples/sleeptime/
sleeptime_example.py`) was written for: `groups.modify` with `SleeptimeManagerUpdate`,
`agents.modify(enable_sleeptime=True)`, `runs.*`. Each test runs one check from
`sleeptime_v0_checks.py` in `.venv-sdk0`, against the live server, with a fresh user's key.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.live import active_run_ids, wait_until
from tests.sdk.v0 import run_v0_check


@pytest.fixture(autouse=True)
def _runs_settle(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """After a test that used the worker, let its runs end before the next test scripts."""
    yield
    if "worker" in request.fixturenames:
        with django_db_blocker.unblock():
            wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def run_check(name: str, live_server_url: str, api_key: str) -> None:
    run_v0_check("sleeptime_v0_checks.py", name, live_server_url, api_key)


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
