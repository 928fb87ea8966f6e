"""Digestion: a 100-page PDF uploaded into a source attached to an agent with sleep-time.

Each repetition is what a worker does with a fresh upload: `sources.ingest.process_file`
parses it, chunks it, embeds the chunks with the local embedder, stores the passages, and
has the ephemeral document agent read them window by window into the source's block. The
stages are timed inside that real call by wrapping the functions it calls (parse and page
count, chunking, embedding, the passages' bulk insert, the digest), so the figures are the
product's own path. The document agent's model calls are counted on the scripted server:
it offers `memory_finish_edits`, so its requests arrive on the sleeper lane. Each window it
is scripted as a model usually behaves: one `memory_insert`, then `memory_finish_edits`.

The design this is measured against made one model call per passage.
"""

from __future__ import annotations

import random
import statistics
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import llm
from bench.common import Context
from llm import local_embedder
from memory.models import Passage
from sources import chunking, ingest, parsing, services
from sources.models import FileStatus, SourceFile
from tests.factories import make_agent, make_user
from tests.sources.pdfs import text_pdf

PAGES = 100
REPEATS = 7
TARGET_FEWER_CALLS = 5.0
EMBEDDING = "local/hashing-bow"
STAGES = ("parse", "chunk", "embed", "store")

# --- A handbook of realistic prose ---------------------------------------------------------

_TEAMS = ["finance", "legal", "facilities", "engineering", "support", "sales", "people"]
_THINGS = [
    "travel expenses",
    "overtime",
    "remote work",
    "parental leave",
    "equipment loans",
    "security badges",
    "customer data",
    "supplier invoices",
    "training budgets",
    "incident reports",
    "performance reviews",
    "office access",
]
_SENTENCES = [
    "Requests for {thing} go to the {team} team, which answers within {n} working days.",
    "An employee who needs {thing} fills in the form on the intranet before the {n}th of "
    "the month.",
    "The {team} team reviews the rules on {thing} every {n} months and publishes changes "
    "in the monthly newsletter.",
    "Exceptions to the policy on {thing} need the written approval of a director and of "
    "the {team} team.",
    "Receipts and records about {thing} are kept for {n} years, after which they are "
    "destroyed securely.",
    "Managers should discuss {thing} with new staff during their first {n} weeks, as part "
    "of onboarding.",
    "Questions about {thing} that this section does not answer can be sent to the {team} "
    "mailbox at any time.",
    "If a request about {thing} is refused, the employee may appeal within {n} days; the "
    "appeal is heard by someone outside the {team} team.",
    "The limit for {thing} is {n} hundred euros per quarter unless the budget holder agrees "
    "otherwise in advance.",
    "Since the last revision, {thing} is handled by the {team} team rather than by each "
    "department separately.",
]


def handbook_pages(count: int, seed: int = 7) -> list[str]:
    """`count` pages of a staff handbook: a heading and a few paragraphs each, wrapped to
    the width of a printed page (about 400 words)."""
    rng = random.Random(seed)
    pages = []
    for number in range(1, count + 1):
        paragraphs = []
        for _ in range(rng.randint(4, 5)):
            sentences = [
                rng.choice(_SENTENCES).format(
                    thing=rng.choice(_THINGS), team=rng.choice(_TEAMS), n=rng.randint(2, 30)
                )
                for _ in range(rng.randint(4, 6))
            ]
            paragraphs.append("\n".join(textwrap.wrap(" ".join(sentences), 90)))
        heading = f"Section {number}: {rng.choice(_THINGS).capitalize()}"
        pages.append(heading + "\n\n" + "\n\n".join(paragraphs))
    return pages


# --- Timing the stages of process_file -----------------------------------------------------


class Stopwatch:
    """Seconds spent per stage, accumulated across calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def timed(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed

        return wrapper


@contextmanager
def instrumented(watch: Stopwatch) -> Iterator[None]:
    """Time the functions `process_file` calls, where it looks them up."""
    targets: list[tuple[Any, str, str]] = [
        (parsing, "parse", "parse"),
        (parsing, "page_count", "parse"),
        (chunking, "chunk_pages", "chunk"),
        (llm, "embed", "embed"),
        (Passage.objects, "bulk_create", "store"),
        (ingest, "_digest_file", "digest"),
    ]
    with ExitStack() as stack:
        for owner, name, stage in targets:
            real = getattr(owner, name)
            stack.enter_context(mock.patch.object(owner, name, watch.timed(stage, real)))
        yield


def digest_once(ctx: Context, data: bytes, number: int) -> dict[str, Any]:
    user = make_user(f"bench-digest-{time.time_ns()}")
    agent = make_agent(user, name=f"reader-{number}", enable_sleeptime=True)
    label = f"handbook_{number}"
    source = services.create_source(
        user, name=label, description="The staff handbook", embedding=EMBEDDING
    )
    services.attach_source(agent, source)
    upload = services.upload_file(
        source, file_name="handbook.pdf", content_type="application/pdf", data=data
    )
    # Replies for far more windows than the file has (run() checks two calls per window);
    # the rest is cleared below. Each window: an insert, then the finishing call.
    for part in range(1, PAGES * 10):
        ctx.llm.sleeper.tool_call(
            "memory_insert",
            {"label": label, "new_str": f"- Part {part}: rules on requests, approvals, limits."},
        )
        ctx.llm.sleeper.tool_call("memory_finish_edits", {})
    # Each repetition embeds with a cold cache of word features, as a worker's first file.
    local_embedder._features.cache_clear()
    calls_before = len(ctx.llm.requests)
    watch = Stopwatch()
    started = time.perf_counter()
    with instrumented(watch):
        status = ingest.process_file(upload.id)
    wall = time.perf_counter() - started
    calls = len(ctx.llm.requests) - calls_before
    lanes = {"sleeper": len(ctx.llm.sleeper.requests), "main": len(ctx.llm.main.requests)}
    ctx.llm.reset()
    assert status == FileStatus.COMPLETED, SourceFile.objects.get(pk=upload.id).error_message
    done = SourceFile.objects.get(pk=upload.id)
    return {
        "wall_s": wall,
        "stages_s": watch.seconds,
        "model_calls": calls,
        "lanes": lanes,
        "passages": Passage.objects.filter(file=done).count(),
        "windows": done.total_windows,
        "pages": done.total_pages,
        "estimate": done.estimate,
    }


def run(ctx: Context) -> dict[str, Any]:
    pages = handbook_pages(PAGES)
    data = text_pdf(pages)
    samples = [digest_once(ctx, data, number) for number in range(REPEATS)]
    first = samples[0]
    assert first["pages"] == PAGES
    for sample in samples:
        assert sample["passages"] == first["passages"] and sample["windows"] == first["windows"]
        assert sample["lanes"]["main"] == 0, "the document agent's calls left the sleeper lane"
        assert sample["model_calls"] == 2 * sample["windows"], sample

    median = statistics.median
    calls = median([sample["model_calls"] for sample in samples])
    stages = {}
    for stage in (*STAGES, "digest"):  # each stage's own median over the repetitions
        seconds = median([sample["stages_s"][stage] for sample in samples])
        stages[stage] = {
            "median_s": round(seconds, 4),
            "pages_per_s": round(PAGES / seconds, 1) if seconds else None,
        }
    fewer = first["passages"] / calls
    return {
        "pdf": {
            "pages": PAGES,
            "bytes": len(data),
            "words": sum(len(page.split()) for page in pages),
        },
        "repeats": REPEATS,
        "passages": first["passages"],
        "windows": first["windows"],
        "model_calls_p50": calls,
        "model_calls_one_per_passage": first["passages"],
        "fewer_calls_factor": round(fewer, 2),
        "target_fewer_calls_min": TARGET_FEWER_CALLS,
        "met": fewer >= TARGET_FEWER_CALLS,
        "digest_wall_s_p50": round(stages["digest"]["median_s"], 3),
        # Reverie's own time per model call (the scripted model answers at once).
        "digest_ms_per_model_call": round(stages["digest"]["median_s"] * 1000 / calls, 1),
        "process_file_wall_s_p50": round(median([s["wall_s"] for s in samples]), 3),
        "stages": stages,
        "ingest_estimate": first["estimate"],
    }
