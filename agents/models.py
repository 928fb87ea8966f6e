from __future__ import annotations

from django.conf import settings
from django.db import models

from config.ids import agent_id, message_id


class AgentType(models.TextChoices):
    MEMGPT = "memgpt_agent"
    MEMGPT_V2 = "memgpt_v2_agent"
    LETTA_V1 = "letta_v1_agent"
    REACT = "react_agent"
    SLEEPTIME = "sleeptime_agent"


class AgentQuerySet(models.QuerySet["Agent"]):
    def for_user(self, user: object) -> AgentQuerySet:
        return self.filter(owner=user)


class Agent(models.Model):
    id = models.CharField(primary_key=True, max_length=64, default=agent_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agents"
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

    # The recursive summary of messages evicted from the context window.
    summary = models.TextField(blank=True)

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
    # False once the message was evicted into the agent's summary.
    in_context = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            # History pages and the in-context window are per agent in seq order.
            models.Index(fields=["agent", "seq"], name="message_agent_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:50]}"
