"""`make bench`: measures what users feel and writes bench/results/<name>.json.

`python -m bench` runs every benchmark in BENCHMARKS; `python -m bench turn archival`
runs those named. Each runs on a throwaway database of the configured server (the
embedded PostgreSQL by default) with the scripted OpenAI-protocol model; benchmarks that
need the live stack (web processes, a worker) start it themselves.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from bench.common import ROOT, Context, write

# Module names under bench/, in the order they run.
BENCHMARKS = [
    "foundation",
    "transcript",
    "context",
    "scale",
    "digestion",
    "archival",
    "turn",
    "isolation",
    "push",
    "load",
]


def main(names: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    from tests.llm_server import ScriptedLLM

    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {BENCHMARKS}")
    llm = ScriptedLLM()
    llm.start()
    os.environ["OPENAI_BASE_URL"] = llm.base_url
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        for name in names or BENCHMARKS:
            module = importlib.import_module(f"bench.{name}")
            llm.reset()
            figures = module.run(Context(llm=llm, database=dict(connection.settings_dict)))
            path = write(name, figures)
            print(f"{name}: {path.relative_to(ROOT)}")
            print(json.dumps(figures, indent=2))
    finally:
        teardown_databases(old_config, verbosity=0)
        llm.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
