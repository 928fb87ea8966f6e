"""The suite's own MCP server (tests/toolbox/mcp_server.py), served on loopback over
streamable HTTP and SSE for the session, and run as a stdio command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import free_port, stop_process

SERVER_SCRIPT = Path(__file__).with_name("mcp_server.py")


def _serve(transport: str, path: str, log: Path) -> Iterator[str]:
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), transport, str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"the MCP test server did not start:\n{log.read_text()}"
                ) from None
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}{path}"
    stop_process(process)


@pytest.fixture(scope="session")
def mcp_http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve("streamable-http", "/mcp", tmp_path_factory.mktemp("mcp") / "http.log")


@pytest.fixture(scope="session")
def mcp_sse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve("sse", "/sse", tmp_path_factory.mktemp("mcp") / "sse.log")


@pytest.fixture
def mcp_stdio() -> dict[str, Any]:
    """The config of the same server run as a local command."""
    return {"command": sys.executable, "args": [str(SERVER_SCRIPT), "stdio"]}


@pytest.fixture
def dead_url() -> str:
    """An address nothing listens on."""
    return f"http://127.0.0.1:{free_port()}/mcp"


@pytest.fixture
def allow_stdio(settings: Any) -> None:
    settings.MCP_ALLOW_STDIO = True
