from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.querysets import OrganizationQuerySet
from config.ids import agent_id, conversation_id, group_id, insight_id, message_id, run_id


class AgentType(models.TextChoices):
    MEMGPT = "memgpt_agent"
    MEMGPT_V2 = "memgpt_v2_agent"
    LETTA_V1 = "letta_v1_agent"
    REACT = "react_agent"
    SLEEPTIME = "sleeptime_agent"


class AgentQuerySet(OrganizationQuerySet["Agent"]):
    pass


class GroupQuerySet(OrganizationQuerySet["Group"]):
    pass


class RunQuerySet(OrganizationQuerySet["Run"]):
    def background(self) -> RunQuerySet:
        """Sleep-time, digest and forget runs: work nobody waits for, without the turns
        people and clients start (trigger `message`)."""
        return self.exclude(trigger=RunTrigger.MESSAGE)


class ConversationQuerySet(OrganizationQuerySet["Conversation"]):
    pass


class Agent(models.Model):
    id = models.CharField(primary_key=True, max_length=64, default=agent_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agents"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="agents"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    system = models.TextField(help_text="The system prompt; core memory is compiled into it.")
    agent_type = models.CharField(
        max_length=32, choices=AgentType.choices, default=AgentType.MEMGPT_V2
    )

    # LLM configuration. The handle is `provider/model`; the provider is resolved when a
    # turn runs, so an agent can be created before its provider is configured.
    llm_handle = models.CharField(max_length=200)
    context_window = models.PositiveIntegerField(default=128_000)
    temperature = models.FloatField(default=0.7)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)

    embedding_handle = models.CharField(max_length=200)
    embedding_chunk_size = models.PositiveIntegerField(default=300)

    tools = models.JSONField(default=list, blank=True, help_text="Tool names.")
    tool_rules = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    enable_sleeptime = models.BooleanField(null=True, blank=True)
    # What stays in the prompt. With sleep-time on, turns a successful run has read
    # leave the context (into the recursive summary) but for the last
    # `context_tail_turns` (0: they stay until the context is full, as before). With or
    # without it, a prompt is kept under `context_token_budget` tokens (0: the model's
    # window). agents/compaction.py.
    context_tail_turns = models.PositiveIntegerField(default=5)
    context_token_budget = models.PositiveIntegerField(default=0)
    # Set on the copies an evaluation makes (evaluation/): the evaluation's id. Their
    # spend is the evaluation's, counted there.
    evaluation_id = models.CharField(max_length=64, blank=True, db_index=True)

    # The recursive summary of messages evicted from the context window.
    summary = models.TextField(blank=True)
    # The last message of the last finished turn. Sleep-time transcripts stop here, so
    # they never end in the middle of a turn that is still running.
    last_turn_end_seq = models.BigIntegerField(null=True, blank=True)
    last_turn_at = models.DateTimeField(null=True, blank=True)
    # The first message of a turn of the agent's own history still running, if any:
    # transcripts stop before it (see agents/threads.py transcript_until).
    turn_started_seq = models.BigIntegerField(null=True, blank=True)

    last_stop_reason = models.CharField(max_length=40, blank=True)
    last_run_completion = models.DateTimeField(null=True, blank=True)
    last_run_duration_ms = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The agent list is always per owner, newest last, paginated by id.
            models.Index(fields=["owner", "created_at"], name="agent_owner_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def provider(self) -> str:
        return self.llm_handle.split("/", 1)[0]

    @property
    def model_name(self) -> str:
        return self.llm_handle.split("/", 1)[1] if "/" in self.llm_handle else self.llm_handle


class Role(models.TextChoices):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class Message(models.Model):
    """One message in an agent's history, stored in the OpenAI chat shape.

    `seq` is the primary key because history order must be total and cheap to page by;
    the Letta-style public id lives in `uid` (Django reserves the name `id` for the pk).
    """

    seq = models.BigAutoField(primary_key=True)
    uid = models.CharField(max_length=64, unique=True, default=message_id, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # What the model said alongside its tool calls (its inner thoughts).
    reasoning = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    tool_call_id = models.CharField(max_length=100, blank=True)
    tool_name = models.CharField(max_length=100, blank=True)
    tool_status = models.CharField(max_length=10, blank=True)
    name = models.CharField(max_length=100, blank=True)
    otid = models.CharField(max_length=100, blank=True)
    sender_id = models.CharField(max_length=100, blank=True)
    # Messages written while answering one request share a turn id and a step number.
    turn_id = models.CharField(max_length=64, blank=True)
    step = models.PositiveIntegerField(default=0)
    usage = models.JSONField(null=True, blank=True)
    # The run that wrote this message: the turn's own run (trigger `message`) for a turn
    # sent through the API or the ADE, or a background run (sleep-time, digest).
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    # The conversation the message belongs to; None is the agent's own history (Letta's
    # `default` conversation).
    conversation = models.ForeignKey(
        "Conversation", on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    # False once the message was evicted into the agent's summary.
    in_context = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            # History pages and the in-context window are per agent in seq order.
            models.Index(fields=["agent", "seq"], name="message_agent_seq"),
            # A conversation's history and window, in seq order.
            models.Index(fields=["conversation", "seq"], name="message_conversation_seq"),
            # The context a turn reads: only what is still in it, so a turn costs the
            # same after 100,000 messages of history as after 10.
            models.Index(
                fields=["agent", "seq"],
                condition=models.Q(in_context=True),
                name="message_agent_in_context",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:50]}"


class MessageCount(models.Model):
    """How many messages an agent has, kept by a PostgreSQL trigger on every insert and
    delete (migration 0010), so the system prompt's count costs one lookup rather than a
    count over the whole history."""

    agent = models.OneToOneField(
        Agent, on_delete=models.CASCADE, primary_key=True, related_name="message_count"
    )
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.count}"


class Conversation(models.Model):
    """One thread of talk with an agent: its own history and context window, over the
    agent's memory blocks (but those it isolates, which it holds copies of).

    The agent's own history, Letta's `default` conversation, has no row: its messages
    have no conversation.
    """

    id = models.CharField(primary_key=True, max_length=64, default=conversation_id, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="conversations")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="conversations"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    description = models.TextField(blank=True)
    # Letta's summary: what the conversation is about, set by its client.
    summary = models.TextField(blank=True)
    # The recursive summary of this conversation's messages evicted from its window.
    history_summary = models.TextField(blank=True)
    # Overrides of the agent's model and window for this conversation.
    model = models.CharField(max_length=200, blank=True)
    model_settings = models.JSONField(default=dict, blank=True)
    context_window_limit = models.PositiveIntegerField(null=True, blank=True)
    hidden = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Copies of the agent's blocks this conversation edits alone.
    isolated_blocks = models.ManyToManyField(
        "memory.Block", blank=True, related_name="isolating_conversations"
    )
    # False: what is said here is untrusted input; memory edits it leads to that read as
    # instructions to the agent wait for review (memory/guards.py).
    trusted = models.BooleanField(default=True)
    # The first message of a turn of this conversation still running, if any.
    turn_started_seq = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # Listed per agent, newest or oldest first.
            models.Index(fields=["agent", "created_at"], name="conversation_agent_created"),
        ]

    def __str__(self) -> str:
        return f"{self.id} of {self.agent_id}"


class ManagerType(models.TextChoices):
    SLEEPTIME = "sleeptime"


class Group(models.Model):
    """A primary agent and the sleep-time agents that tend its memory.

    Letta's shape: the primary is the *manager*, `participants` are the sleep-time agents
    only. Whether the group is active follows the primary's `enable_sleeptime`, so
    turning sleep-time off and on again keeps the counter and the sleep-time agents.
    """

    id = models.CharField(primary_key=True, max_length=64, default=group_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_groups"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="agent_groups"
    )
    manager_type = models.CharField(
        max_length=20, choices=ManagerType.choices, default=ManagerType.SLEEPTIME
    )
    manager_agent = models.OneToOneField(
        Agent, on_delete=models.CASCADE, related_name="managed_group"
    )
    participants = models.ManyToManyField(Agent, related_name="participant_groups", blank=True)
    description = models.TextField(blank=True)
    # Letta's trigger arithmetic: after each finished turn counter = (counter + 1) % N,
    # and a run starts when it is 0. None means every turn.
    sleeptime_agent_frequency = models.PositiveIntegerField(null=True, blank=True, default=5)
    turns_counter = models.IntegerField(null=True, blank=True, default=-1)
    # Seconds of silence after which unprocessed messages get a run; 0 turns it off.
    sleeptime_idle_seconds = models.PositiveIntegerField(default=300)
    # Everything up to this primary message has been digested by a successful run.
    last_processed_seq = models.BigIntegerField(null=True, blank=True)
    last_processed_message_id = models.CharField(max_length=64, blank=True)
    # The primary's last finished turn for which the idle trigger already fired.
    idle_fired_seq = models.BigIntegerField(null=True, blank=True)
    # Paused: triggers are recorded as skipped and nothing runs until it is resumed.
    paused = models.BooleanField(default=False)
    # Consecutive finished runs that changed nothing; each one doubles the interval
    # between triggered runs, up to SLEEPTIME_BACKOFF_MAX times (agents/governor.py).
    quiet_runs = models.PositiveIntegerField(default=0)
    # Tokens (prompt and completion) background work for this agent may spend; None:
    # no limit beyond the organization's.
    daily_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GroupQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.manager_type} group of {self.manager_agent_id}"


class RunStatus(models.TextChoices):
    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.CREATED, RunStatus.RUNNING)


class RunTrigger(models.TextChoices):
    TURN = "turn"
    IDLE = "idle"
    MANUAL = "manual"
    RETRY = "retry"
    BACKLOG = "backlog"
    DIGEST = "digest"
    # A person asked the agent to forget something (forgetting/).
    FORGET = "forget"
    # A turn sent through the API or the ADE: the run clients follow (`run_id`).
    MESSAGE = "message"


class RunOutcome(models.TextChoices):
    """How a background run's trigger ended, for the ledger: every trigger ends in one."""

    APPLIED = "applied"
    AWAITING_REVIEW = "awaiting_review"
    NO_CHANGE = "no_change"
    SKIPPED = "skipped"
    FAILED = "failed"


class Run(models.Model):
    """One background job of a sleep-time agent, with everything needed to audit it."""

    id = models.CharField(primary_key=True, max_length=64, default=run_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="runs"
    )
    # The agent that did the work. A plain id, not a foreign key: a run outlives the
    # ephemeral agents that document digests use.
    run_agent_id = models.CharField(max_length=64, db_index=True)
    # The agent whose memory the run tends; its runs go when it goes.
    primary_agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="background_runs"
    )
    group = models.ForeignKey(Group, on_delete=models.SET_NULL, null=True, blank=True)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.CREATED, db_index=True
    )
    stop_reason = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    # Where a background run's trigger ended (blank while it works, and for turns), and
    # why: the ledger of agents/runs/ledger.py.
    outcome = models.CharField(max_length=20, choices=RunOutcome.choices, blank=True)
    outcome_reason = models.TextField(blank=True)
    # The model handle the run's agent used, for spend per model.
    model = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    retry_of = models.CharField(max_length=64, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    # A retry waits for its back-off; the clock enqueues it once this time has passed.
    not_before = models.DateTimeField(null=True, blank=True)
    # When the run was last handed to the queue; the clock re-enqueues a run whose job
    # was lost (the broker went away between the commit and the enqueue).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Set when a worker takes the run and refreshed while it works; a running run whose
    # heartbeat stops was lost with its worker and is failed and retried by the clock.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The primary's messages the run read: seq in (after, until].
    transcript_after_seq = models.BigIntegerField(null=True, blank=True)
    transcript_until_seq = models.BigIntegerField(null=True, blank=True)
    transcript_until_message_id = models.CharField(max_length=64, blank=True)
    transcript = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    step_count = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # Single flight and the run list: the active runs of one agent, newest last.
            models.Index(fields=["run_agent_id", "status"], name="run_agent_status"),
            models.Index(fields=["owner", "created_at"], name="run_owner_created"),
            # Spend per agent and day, and the ledger of one agent.
            models.Index(fields=["primary_agent", "created_at"], name="run_primary_created"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


class Severity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Insight(models.Model):
    """Something a sleep-time agent noticed and wants a person to see."""

    id = models.CharField(primary_key=True, max_length=64, default=insight_id, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="insights")
    run_id = models.CharField(max_length=64, blank=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    created_at = models.DateTimeField(auto_now_add=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.title
