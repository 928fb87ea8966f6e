"""Background runs: every piece of work an agent does away from a conversation goes
through one lifecycle, whoever asks for it (a sleep-time trigger, a document digest, a
forget job).

A run is a Run row; the row is the truth. Its lifecycle:
- queue (queue.py): a run waits as `created` with single flight per agent (one works,
  one waits, further triggers join the waiting one), and a django-q2 job carrying only
  its id hands it to a worker;
- open (lifecycle.py): it becomes `running`, claimed from the queue or opened at once
  by work that starts where it is asked for (digests, forget jobs); a heartbeat shows
  its worker is alive;
- work: turns of its agent, each from a fresh context (`lifecycle.turn`); a sleep-time
  run reads what is new in its conversation (execute.py);
- end (lifecycle.py): `completed`, or `failed` with its reason, its edits rolled back
  and, where asked, a retry queued with back-off;
- undo (undo.py): a finished run's edits taken back; queries.py reads runs.

Turns sent through the API or the ADE are runs too (turns.py): opened `running` where
the turn runs, never queued, so clients can follow and cancel them.

The clock of `manage.py worker` recovers runs whose worker died and queues those whose
back-off is over (queue.py).
"""

from agents.runs.execute import execute_run
from agents.runs.ledger import record_skipped, skip
from agents.runs.lifecycle import (
    MAX_ATTEMPTS,
    MAX_TOOL_ERRORS,
    beating,
    complete,
    elapsed_ms,
    fail,
    open_running,
    recover_lost,
    turn,
    unfinished,
)
from agents.runs.queries import get_run_for_user, list_runs, run_messages, run_versions
from agents.runs.queue import enqueue, enqueue_due, request_run
from agents.runs.turns import recover_lost_turns
from agents.runs.undo import RevertReport, revert_run

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_TOOL_ERRORS",
    "RevertReport",
    "beating",
    "complete",
    "elapsed_ms",
    "enqueue",
    "enqueue_due",
    "execute_run",
    "fail",
    "get_run_for_user",
    "list_runs",
    "open_running",
    "record_skipped",
    "recover_lost",
    "recover_lost_turns",
    "request_run",
    "revert_run",
    "run_messages",
    "run_versions",
    "skip",
    "turn",
    "unfinished",
]
