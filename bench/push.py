"""Live push (issue 7, item 6): from a block write to the websocket frame that shows it,
at a browser's socket on the agent's page (/ws/agents/<id>/).

Two writers, WRITES edits each, one after the other: the API (PATCH /v1/blocks/{id}
through the web process the socket is connected to) and another process (the bench
itself calls memory.services.update_block, as a worker's sleep-time run does). Either
way the event leaves with the commit as a PostgreSQL NOTIFY, the web process's listener
hands it to the page's consumer, which re-reads the block and renders its partial.

A thread reads the socket all along and stamps each frame as it arrives; a write's
latency runs from the moment it is sent to the arrival of the frame carrying its text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import connect

from bench.common import Context, summary
from bench.stack import Stack, create_agent, live_stack

WRITES = 250
WARMUP_WRITES = 10
SNAPSHOT_FRAMES = 4  # memory blocks, sleep status, chat log, settings


class Arrivals:
    """Every frame of a socket with the time it arrived, read by a thread of its own."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.frames: list[tuple[float, str]] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                frame = str(self.socket.recv())
            except Exception:  # closed at the end
                return
            with self.changed:
                self.frames.append((time.perf_counter(), frame))
                self.changed.notify_all()

    def wait_for(self, token: str, timeout: float = 10) -> float:
        """Arrival time of the first frame containing `token`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for arrived, frame in self.frames:
                    if token in frame:
                        return arrived
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no frame with {token!r} within {timeout} s")
                self.changed.wait(left)


def _measure(
    arrivals: Arrivals, write: Callable[[str], None], label: str, writes: int
) -> list[float]:
    samples = []
    for index in range(writes):
        token = f"={label}={index:06d}="  # no token is part of another
        sent = time.perf_counter()
        write(token)
        samples.append(arrivals.wait_for(token) - sent)
    return samples


def _writers(stack: Stack, block_id: str) -> dict[str, Callable[[str], None]]:
    from memory.services import Actor, update_block

    client = stack.client()

    def through_the_api(token: str) -> None:
        response = client.patch(f"/v1/blocks/{block_id}", json={"value": f"Name: Ada\n{token}"})
        response.raise_for_status()

    def from_another_process(token: str) -> None:
        update_block(block_id, actor=Actor.system(), value=f"Name: Ada\n{token}")

    return {"api": through_the_api, "other_process": from_another_process}


def run(ctx: Context) -> dict[str, Any]:
    with live_stack(ctx, web=1) as stack:
        agent = create_agent(stack.client(), "pushed")
        block_id = next(block["id"] for block in agent["blocks"] if block["label"] == "human")
        writers = _writers(stack, block_id)
        with connect(
            stack.ws_url(agent["id"]),
            origin=stack.origin(),
            additional_headers={"Cookie": stack.session_cookie},
            proxy=None,
        ) as socket:
            for _ in range(SNAPSHOT_FRAMES):
                socket.recv(timeout=10)
            arrivals = Arrivals(socket)
            figures: dict[str, Any] = {}
            for name, write in writers.items():
                _measure(arrivals, write, f"warm-{name}", WARMUP_WRITES)
                figures[name] = summary(_measure(arrivals, write, name, WRITES))
    return {
        "writes_per_writer": WRITES,
        "write_to_frame": figures,
        "target_p95_ms": 100,
    }
