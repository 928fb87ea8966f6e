"""Does sleep-time pay off for this agent? The built-in evaluation (issue 17): material
to replay (generated stateful tasks, personal-memory conversations, a user's JSONL),
grading, and, later, the runs that replay it into matched copies of an agent and report
accuracy against question-time tokens per arm."""
