"""The websocket of an agent's pages: on the agent page the chat as it happens, live
block changes, run status and cards, insights, settings, upload progress and the count
of proposals waiting; on its review page (`?page=review`) the queue of proposals. It
lives beside the routing because it shows what several apps contribute to the pages,
from their `contexts` modules (agents/contexts.py, sources/contexts.py), never from
their views.

A consumer authenticates with the session, checks that the user may see the agent, and
joins the agent's group. Events carry ids (and a reply being written, its pieces); the
consumer re-checks access, reads the current state and sends HTML rendered from the same
partials the page includes, with `hx-swap-oob` so htmx's websocket extension swaps them
in place. It never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from accounts.access import Access, NoOrganization
from accounts.middleware import session_access
from agents import chat
from agents.contexts import config_context, review_context, review_link_context
from agents.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    Conversation,
    Insight,
    Message,
    Run,
    RunStatus,
)
from memory import events, merge
from memory.models import Block, BlockVersion, Proposal
from memory.services import blocks_fingerprint
from sources.contexts import file_row_context
from sources.models import SourceFile

# Close codes the page can tell apart from a network failure.
FORBIDDEN = 4403
CLOCK_MARGIN = timedelta(seconds=2)

# The pages a socket serves (`?page=`): each gets the events that change what it shows.
AGENT_PAGE = "agent"
REVIEW_PAGE = "review"


@dataclass(frozen=True)
class PageState:
    """What the page showed when it was rendered: `?since=<unix time>&blocks=<fingerprint>`
    (the agent page's blocks; the review page sends only the time)."""

    rendered_at: datetime
    blocks: str


def _page_state(query_string: bytes) -> PageState | None:
    query = parse_qs(query_string.decode("latin-1"))
    try:
        moment = datetime.fromtimestamp(float(query["since"][0]), tz=UTC)
        # The review page shows no blocks and sends no fingerprint.
        return PageState(rendered_at=moment, blocks=(query.get("blocks") or [""])[0])
    except (KeyError, IndexError, ValueError, OverflowError, OSError):
        return None  # an old page, or a hand-made URL: it gets everything


def block_lines(block: Block, changed: set[int]) -> list[dict[str, Any]]:
    return [
        {"text": text, "changed": index in changed}
        for index, text in enumerate(block.value.split("\n"))
    ]


def render_block(block: Block, version: BlockVersion | None = None) -> str:
    """The block's partial as an out-of-band swap, its changed lines marked."""
    changed = merge.changed_lines(version.previous_value, version.value) if version else set()
    return render_to_string(
        "agents/partials/_block.html",
        {"block": block, "oob": True, "lines": block_lines(block, changed) if changed else None},
    )


def render_memory_blocks(agent: Agent) -> str:
    """Every block of the agent, replacing the page's list: after a block was attached or
    detached, and on (re)connecting, when the page may have missed either."""
    blocks = Block.objects.filter(agent_links__agent=agent).order_by("agent_links__position")
    return render_to_string(
        "agents/partials/_memory_blocks.html", {"blocks": list(blocks), "oob": True}
    )


def render_sleep_status(agent: Agent) -> str:
    active = Run.objects.background().filter(primary_agent=agent, status__in=ACTIVE_RUN_STATUSES)
    return render_to_string(
        "agents/partials/_sleep_status.html",
        {"agent": agent, "active_runs": list(active.order_by("created_at")), "oob": True},
    )


def render_review_link(agent: Agent) -> str:
    """The agent page's link to the review queue, with the count of proposals waiting."""
    return render_to_string(
        "agents/partials/_review_link.html", review_link_context(agent, oob=True)
    )


def render_background(agent: Agent) -> str:
    """What the memory panel shows of background work: runs going on, proposals waiting.
    One frame on (re)connecting, so a page's first frames stay the same four."""
    return render_sleep_status(agent) + render_review_link(agent)


def render_review(agent: Agent, can_decide: bool) -> str:
    """The review page's queue, out of band."""
    context = {**review_context(agent, can_decide=can_decide), "oob": True}
    return render_to_string("agents/partials/_review.html", context)


def render_chat_log(agent: Agent, conversation_id: str | None = None) -> str:
    conversation = Conversation.objects.filter(pk=conversation_id, agent=agent).first()
    log = chat.chat_log(agent, conversation)
    context = {"agent": agent, "conversation": conversation, "log": log}
    return render_to_string("agents/partials/_chat_update.html", context)


def render_message(agent: Agent, message_id: int, conversation_id: str | None = None) -> str:
    """The chat's update for a new message of the thread the page shows (nothing for a
    message of another thread)."""
    message = Message.objects.filter(
        pk=message_id, agent=agent, conversation_id=conversation_id
    ).first()
    if message is None:  # deleted meanwhile, or another thread's
        return ""
    appended, replaced = chat.message_update(message)
    context = {"agent": agent, "appended": appended, "replaced": replaced, "log": None}
    return render_to_string("agents/partials/_chat_update.html", context)


def render_draft(agent: Agent, event: dict[str, Any]) -> str:
    """A piece of a reply being written (memory.events.MessageDelta)."""
    kind: Literal["assistant", "reasoning"] = (
        "reasoning" if event["kind"] == "reasoning" else "assistant"
    )
    item = chat.draft_item(str(event["item_id"]), kind, str(event["text"]))
    context = {"agent": agent, "item": item, "items": [item], "start": bool(event["start"])}
    return render_to_string("agents/partials/_chat_draft.html", context)


def render_run_card(agent: Agent, run_id: str) -> str:
    finished = Run.objects.filter(pk=run_id, primary_agent=agent, completed_at__isnull=False)
    run = chat.runs_with_counts(finished).first()
    if run is None:
        return ""
    context = {"agent": agent, "appended": [chat.run_item(run)], "replaced": [], "log": None}
    return render_to_string("agents/partials/_chat_update.html", context)


def render_settings(agent: Agent) -> str:
    """The name in the heading and the settings panel's facts (an open edit form has no
    facts element and is left alone)."""
    return render_to_string(
        "agents/partials/_agent_name.html", {"agent": agent, "oob": True}
    ) + render_to_string(
        "agents/partials/_config_facts.html", {**config_context(agent), "oob": True}
    )


def render_insight(insight: Insight) -> str:
    return render_to_string("agents/partials/_insight.html", {"insight": insight, "oob": True})


class AgentConsumer(AsyncWebsocketConsumer):
    agent_id: str = ""
    group: str = ""
    # The thread the page's chat shows; None for the agent's own history.
    conversation_id: str | None = None
    # Which of the agent's pages this socket serves.
    page: str = AGENT_PAGE
    # The reader's access as last checked (each event checks it again).
    access: Access | None = None

    async def connect(self) -> None:
        self.agent_id = self.scope["url_route"]["kwargs"]["agent_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.conversation_id = (query.get("conversation") or [None])[0] or None
        self.page = REVIEW_PAGE if (query.get("page") or [""])[0] == REVIEW_PAGE else AGENT_PAGE
        if await self._agent() is None:
            await self.close(code=FORBIDDEN)
            return
        self.group = events.agent_group(self.agent_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # A page that reconnects (laptop asleep, server restarted) may have missed
        # events: send the current state of everything the socket keeps live. A page
        # rendered a moment ago is current already, and re-rendering its panels would
        # take the keyboard focus away: it says what it shows, and gets only what changed.
        for html in await self._snapshot(_page_state(self.scope.get("query_string", b""))):
            await self.send(text_data=html)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    def _visible_agent(self) -> Agent | None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return None
        # The organization picked in the browser's session, as for the page itself.
        try:
            access = session_access(user, self.scope["session"])
        except NoOrganization:
            return None  # refused like an agent they may not see
        self.access = access
        return Agent.objects.filter(organization=access.organization, pk=self.agent_id).first()

    @property
    def can_decide(self) -> bool:
        """Whether the reader may accept and reject proposals (viewers may not)."""
        return self.access is not None and self.access.can_edit

    @database_sync_to_async
    def _agent(self) -> Agent | None:
        return self._visible_agent()

    @database_sync_to_async
    def _snapshot(self, page: PageState | None) -> list[str]:
        agent = Agent.objects.get(pk=self.agent_id)
        if self.page == REVIEW_PAGE:
            return self._review_snapshot(agent, page)
        if page is None:
            changed = {"blocks", "runs", "chat", "settings"}
        else:
            # Minus a margin, for web and worker machines whose clocks differ a little.
            after = page.rendered_at - CLOCK_MARGIN
            blocks = Block.objects.filter(agent_links__agent=agent).order_by(
                "agent_links__position"
            )
            messages = Message.objects.filter(agent=agent, created_at__gt=after)
            runs = (
                Run.objects.background().filter(primary_agent=agent, updated_at__gt=after).exists()
            )
            proposals = Proposal.objects.filter(agent_id=agent.id, updated_at__gt=after).exists()
            changed = {
                name
                for name, differs in (
                    ("blocks", blocks_fingerprint(list(blocks)) != page.blocks),
                    ("runs", runs or proposals),
                    ("chat", runs or messages.exists()),  # a run's card is in the chat
                    ("settings", agent.updated_at > after),
                )
                if differs
            }
        renderers = (
            ("blocks", render_memory_blocks),
            ("runs", render_background),
            ("chat", lambda agent: render_chat_log(agent, self.conversation_id)),
            ("settings", render_settings),
        )
        return [render(agent) for name, render in renderers if name in changed]

    def _review_snapshot(self, agent: Agent, page: PageState | None) -> list[str]:
        """The queue, unless the page was rendered after every change to a proposal of
        the agent and to its blocks (which may make a proposal conflict)."""
        if page is not None:
            after = page.rendered_at - CLOCK_MARGIN
            proposals = Proposal.objects.filter(agent_id=agent.id, updated_at__gt=after)
            blocks = Block.objects.filter(agent_links__agent=agent, updated_at__gt=after)
            if not proposals.exists() and not blocks.exists():
                return []
        return [render_review(agent, self.can_decide)]

    async def _forward(self, render: Any, *, page: str = AGENT_PAGE) -> None:
        """Send what `render` makes of the agent, if this socket serves `page`."""
        if page != self.page:
            return
        html = await self._render_if_visible(render)
        if html is None:  # access was revoked or the agent deleted meanwhile
            await self.close(code=FORBIDDEN)
            return
        if html.strip():  # e.g. send_message's own result, which the chat never shows
            await self.send(text_data=html)

    @database_sync_to_async
    def _render_if_visible(self, render: Any) -> str | None:
        # One trip to a sync thread (and one database connection) per event: the access
        # check and the rendering together.
        agent = self._visible_agent()
        return None if agent is None else str(render(agent))

    # --- Event handlers (the event's `type` with dots as underscores) ----------------------

    async def block_changed(self, event: dict[str, Any]) -> None:
        def render(agent: Agent) -> str:
            block = Block.objects.filter(pk=event["block_id"], agent_links__agent=agent).first()
            if block is None:
                return ""
            version = block.versions.filter(number=event["version"]).first()
            return render_block(block, version)

        await self._forward(render)
        # A change of a block may make a proposal of it conflict, or stop conflicting.
        await self._forward(lambda agent: render_review(agent, self.can_decide), page=REVIEW_PAGE)

    async def blocks_changed(self, event: dict[str, Any]) -> None:
        await self._forward(render_memory_blocks)

    async def run_changed(self, event: dict[str, Any]) -> None:
        await self._forward(render_sleep_status)
        if event["status"] in (RunStatus.COMPLETED, RunStatus.FAILED):
            # A run finishes once (a retry is a run of its own): its card joins the chat.
            await self._forward(lambda agent: render_run_card(agent, event["run_id"]))

    async def message_created(self, event: dict[str, Any]) -> None:
        await self._forward(
            lambda agent: render_message(agent, event["message_id"], self.conversation_id)
        )

    async def message_delta(self, event: dict[str, Any]) -> None:
        if event.get("conversation_id") != self.conversation_id:
            return  # a draft of another thread than the page shows
        await self._forward(lambda agent: render_draft(agent, event))

    async def messages_discarded(self, event: dict[str, Any]) -> None:
        await self._forward(
            lambda agent: render_to_string(
                "agents/partials/_chat_discarded.html", {"item_ids": event["item_ids"]}
            )
        )

    async def agent_changed(self, event: dict[str, Any]) -> None:
        await self._forward(render_settings)

    async def insight_created(self, event: dict[str, Any]) -> None:
        def render(agent: Agent) -> str:
            insight = Insight.objects.filter(pk=event["insight_id"], agent=agent).first()
            return render_insight(insight) if insight is not None else ""

        await self._forward(render)

    async def proposal_changed(self, event: dict[str, Any]) -> None:
        """A proposal arrived or was decided: the agent page's count, the review queue."""
        await self._forward(render_review_link)
        await self._forward(lambda agent: render_review(agent, self.can_decide), page=REVIEW_PAGE)

    async def file_progress(self, event: dict[str, Any]) -> None:
        """The file's row of the sources panel, re-read, if its source is attached here."""

        def render(agent: Agent) -> str:
            upload = (
                SourceFile.objects.filter(pk=event["file_id"], source__agents=agent)
                .defer("content")
                .first()
            )
            if upload is None:  # deleted meanwhile, or its source detached from this agent
                return ""
            return render_to_string(
                "sources/partials/_file.html", file_row_context(upload, agent, oob=True)
            )

        await self._forward(render)
