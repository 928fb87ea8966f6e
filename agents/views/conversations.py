"""The agent page's conversations: which one the chat shows, starting a new one, and
answering the tool calls a turn stopped on (approve or deny)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from agents import chat, conversations, services
from agents.conversations import ConversationSpec
from agents.loop import Approval, InputMessage
from agents.models import Agent, Conversation
from agents.views.access import agent_or_404
from config.errors import InvalidRequest
from config.htmx import HtmxHttpRequest, wants_partial

# The switcher lists this many, most recently used first.
LISTED_CONVERSATIONS = 30


def conversation_or_404(agent: Agent, conversation_id: str | None) -> Conversation | None:
    """The agent's conversation of that id; None (the agent's own history) for none."""
    if not conversation_id or conversation_id == conversations.DEFAULT:
        return None
    found = Conversation.objects.filter(agent=agent, pk=conversation_id).first()
    if found is None:
        raise Http404("No such conversation of this agent")
    return found


def conversation_list(agent: Agent) -> list[Conversation]:
    """The agent's conversations in use, most recently talked in first."""
    listed = Conversation.objects.filter(agent=agent, hidden=False, archived_at__isnull=True)
    latest = F("last_message_at").desc(nulls_last=True)
    return list(listed.order_by(latest, "-created_at")[:LISTED_CONVERSATIONS])


def chat_url(agent: Agent, conversation: Conversation | None) -> str:
    url = reverse("agents:detail", args=[agent.id])
    return (f"{url}?conversation={conversation.id}" if conversation else url) + "#chat"


@login_required
@require_POST
def conversation_create(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    title = request.POST.get("summary", "").strip()[:200]
    # Ticked "untrusted": what is said there cannot steer memory (memory/guards.py).
    trusted = request.POST.get("untrusted") != "on"
    conversation = conversations.create_conversation(
        request.user, agent, ConversationSpec(summary=title, trusted=trusted)
    )
    return redirect(chat_url(agent, conversation))


@login_required
@require_POST
def approval_answer(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    """Approve or deny a tool call awaiting approval; an approved server tool runs and the
    turn goes on. htmx gets the thread's chat log again."""
    agent = agent_or_404(request, agent_id)
    conversation = conversation_or_404(agent, request.POST.get("conversation"))
    call_id = request.POST.get("tool_call_id", "")
    approve = request.POST.get("decision") == "approve"
    answer = Approval(call_id, approve=approve, reason="" if approve else "denied in the ADE")
    error = ""
    try:
        result = services.send_message(
            agent,
            [InputMessage(role="approval", content="", approvals=[answer])],
            conversation=conversation,
            owner_id=request.user.pk,
        )
        if result.stop_reason == "error":
            error = f"The turn ended with an error: {result.error}"
    except InvalidRequest as refused:
        error = refused.message
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        return redirect(chat_url(agent, conversation))
    context = {
        "agent": agent,
        "items": chat.chat_log(agent, conversation),
        "turn_error": error or None,
    }
    return render(request, "agents/partials/_chat_log.html", context)
