"""The tool pages: the organization's custom tools made, changed and deleted through
their forms, the agent page's tools panel (attach, detach), and another organization's
tools out of reach."""

from __future__ import annotations

import html
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import Agent
from agents.tools import TOOLS
from config.secrets import unseal
from tests.ade import HTMX
from tests.factories import make_agent as build_agent
from toolbox.models import Tool
from toolbox.services import ToolSpec, create_tool

ROLL = '''def roll(sides: int, times: int = 1) -> str:
    """Roll dice and say what came up.

    Args:
        sides: How many sides each die has.
        times: How many dice to roll.
    """
    return str(sides * times)
'''


def form_data(source: str = ROLL, **fields: Any) -> dict[str, Any]:
    return {
        "source_code": source,
        "description": "",
        "tags": "dice, games",
        "return_char_limit": "500",
        "pip_requirements": "requests==2.32.3\nrich",
        "environment": "DICE_TOKEN=s3cret\nDICE_REGION=eu",
        **fields,
    }


def make_tool(user: Any, source: str = ROLL, **fields: Any) -> Tool:
    return create_tool(user, ToolSpec(source_code=source, **fields), reserved=TOOLS)


def tool_url(tool: Tool) -> str:
    return reverse("agents:tool", args=[tool.id])


def test_a_tool_made_through_the_form_shows_its_schema(signed_in, user):
    response = signed_in.post(reverse("agents:tool_create"), form_data())

    tool = Tool.objects.get(name="roll")
    assert response.status_code == 302 and response.url == tool_url(tool)
    assert tool.tags == ["dice", "games"] and tool.return_char_limit == 500
    assert tool.pip_requirements == [{"name": "requests", "version": "2.32.3"}, {"name": "rich"}]
    assert tool.description == "Roll dice and say what came up."
    body = html.unescape(signed_in.get(tool_url(tool)).content.decode())
    assert '"name": "roll"' in body
    assert '  "parameters": {' in body  # pretty-printed
    assert '"description": "How many sides each die has."' in body
    assert "DICE_TOKEN" in body and "s3cret" not in body


def test_the_tools_page_lists_built_ins_and_the_organizations_tools_with_their_agents(
    signed_in, user, make_agent
):
    tool = make_tool(user, tags=["dice"])
    agent = make_agent(name="gambler", tools=["send_message", "roll"], include_base_tools=False)

    body = signed_in.get(reverse("agents:tools")).content.decode()

    assert f'href="{tool_url(tool)}"><code>roll</code>' in body
    assert "Roll dice and say what came up." in body and ">dice<" in body
    assert f'href="{reverse("agents:detail", args=[agent.id])}">gambler</a>' in body
    for name in TOOLS:
        assert f"<code>{name}</code>" in body
    assert f'href="{reverse("agents:tools")}" aria-current="page">Tools' in body


def test_bad_source_shows_the_error_with_its_line_and_keeps_the_text(signed_in):
    source = "def roll(sides: int) -> str:\n    return (\n"

    response = signed_in.post(reverse("agents:tool_create"), form_data(source, tags="dice"))

    body = response.content.decode()
    assert response.status_code == 400
    assert 'class="form-errors" role="alert"' in body
    assert "source_code is not valid Python" in body and "(line 2)" in body
    assert "def roll(sides: int) -&gt; str:\n    return (\n</textarea>" in body
    assert 'value="dice"' in body
    assert not Tool.objects.exists()


def test_a_built_in_name_or_a_taken_name_is_refused_beside_the_form(signed_in, user):
    make_tool(user)
    taken = signed_in.post(reverse("agents:tool_create"), form_data())
    built_in = signed_in.post(
        reverse("agents:tool_create"),
        form_data("def send_message(message: str) -> str:\n    return message\n"),
    )

    assert taken.status_code == 400
    assert "A tool named &#x27;roll&#x27; already exists." in taken.content.decode()
    assert built_in.status_code == 400
    assert "is a built-in tool&#x27;s name" in built_in.content.decode()
    assert Tool.objects.count() == 1


def test_editing_keeps_the_environment_hidden_and_kept_unless_cleared(signed_in, user):
    signed_in.post(reverse("agents:tool_create"), form_data())
    tool = Tool.objects.get(name="roll")

    page = signed_in.get(tool_url(tool)).content.decode()
    assert "DICE_REGION" in page and "DICE_TOKEN" in page
    assert "s3cret" not in page and "eu\n" not in page
    assert 'value="dice, games"' in page
    assert "requests==2.32.3\nrich</textarea>" in page

    kept = signed_in.post(tool_url(tool), form_data(environment="", tags="dice"))
    tool.refresh_from_db()
    assert kept.status_code == 302
    assert tool.tags == ["dice"]
    assert _environment(tool) == {"DICE_TOKEN": "s3cret", "DICE_REGION": "eu"}

    signed_in.post(tool_url(tool), form_data(environment="", clear_environment="on"))
    tool.refresh_from_db()
    assert _environment(tool) == {}


def _environment(tool: Tool) -> dict[str, str]:
    return dict(unseal(tool.environment, default={}))


def test_renaming_the_function_renames_the_tool_in_its_agents(signed_in, user, make_agent):
    tool = make_tool(user)
    agent = make_agent(tools=["send_message", "roll"], include_base_tools=False)

    response = signed_in.post(tool_url(tool), form_data(ROLL.replace("def roll", "def toss")))

    assert response.status_code == 302
    assert Tool.objects.get(pk=tool.pk).name == "toss"
    assert Agent.objects.get(pk=agent.pk).tools == ["send_message", "toss"]


def test_deleting_a_tool_says_which_agents_lose_it_and_removes_it_from_them(
    signed_in, user, make_agent
):
    tool = make_tool(user)
    agent = make_agent(name="gambler", tools=["send_message", "roll"], include_base_tools=False)
    delete_url = reverse("agents:tool_delete", args=[tool.id])

    confirm = signed_in.get(delete_url).content.decode()
    assert "It is removed from the agent that have it" in " ".join(confirm.split())
    assert ">gambler</a>" in confirm

    response = signed_in.post(delete_url)

    assert response.status_code == 302 and response.url == reverse("agents:tools")
    assert not Tool.objects.filter(pk=tool.pk).exists()
    assert Agent.objects.get(pk=agent.pk).tools == ["send_message"]


def test_the_agent_page_attaches_and_detaches_tools(signed_in, user, make_agent):
    tool = make_tool(user)
    agent = make_agent(tools=["send_message"], include_base_tools=False)
    page = signed_in.get(reverse("agents:detail", args=[agent.id])).content.decode()
    attach_url = reverse("agents:tool_attach", args=[agent.id])
    assert f'hx-post="{attach_url}"' in page and f'action="{attach_url}"' in page
    assert f'<option value="{tool.id}">roll</option>' in page

    attached = signed_in.post(attach_url, {"tool_id": tool.id}, **HTMX)

    body = attached.content.decode()
    assert attached.status_code == 200
    assert body.lstrip().startswith('<div id="agent-tools"') and "<html" not in body
    assert f'href="{tool_url(tool)}"><code>roll</code>' in body
    assert f'<option value="{tool.id}">' not in body
    assert Agent.objects.get(pk=agent.pk).tools == ["send_message", "roll"]

    detach_url = reverse("agents:tool_detach", args=[agent.id, tool.id])
    detached = signed_in.post(detach_url)

    assert detached.status_code == 302
    assert detached.url == reverse("agents:detail", args=[agent.id]) + "#tools"
    assert Agent.objects.get(pk=agent.pk).tools == ["send_message"]


def test_the_config_form_offers_the_organizations_tools(signed_in, user, make_agent):
    make_tool(user)
    agent = make_agent(tools=["send_message"], include_base_tools=False)
    config_url = reverse("agents:config", args=[agent.id])

    form = signed_in.get(config_url, **HTMX).content.decode()
    assert 'name="tools" value="roll"' in form

    data = {
        "name": agent.name,
        "model": agent.llm_handle,
        "embedding": agent.embedding_handle,
        "context_window": str(agent.context_window),
        "description": "",
        "system": agent.system,
        "tools": ["send_message", "roll"],
    }
    saved = signed_in.post(config_url, data, **HTMX)

    assert saved.status_code == 200
    assert Agent.objects.get(pk=agent.pk).tools == ["send_message", "roll"]
    assert '<div id="agent-tools" class="agent-tools" hx-swap-oob="true">' in saved.content.decode()


def test_another_organizations_tool_is_not_found(client, user, stranger):
    tool = make_tool(user)
    theirs = build_agent(stranger, name="theirs")
    client.force_login(stranger)

    for url in (tool_url(tool), reverse("agents:tool_delete", args=[tool.id])):
        assert client.get(url).status_code == 404
        assert client.post(url, form_data()).status_code == 404
    attach_url = reverse("agents:tool_attach", args=[theirs.id])
    assert client.post(attach_url, {"tool_id": tool.id}).status_code == 404
    detach_url = reverse("agents:tool_detach", args=[theirs.id, tool.id])
    assert client.post(detach_url).status_code == 404
    assert "roll" not in client.get(reverse("agents:tools")).content.decode()
    assert Tool.objects.filter(pk=tool.pk).exists()
    assert Agent.objects.get(pk=theirs.pk).tools == theirs.tools


def test_the_tools_page_costs_the_same_queries_for_one_tool_or_many(signed_in, user, make_agent):
    make_tool(user)
    make_agent(name="one", tools=["roll"], include_base_tools=False)
    with CaptureQueriesContext(connection) as one:
        signed_in.get(reverse("agents:tools"))
    for sides in ("d4", "d6", "d8"):
        make_tool(user, ROLL.replace("def roll", f"def {sides}"))
        make_agent(name=sides, tools=[sides, "roll"], include_base_tools=False)
    with CaptureQueriesContext(connection) as many:
        body = signed_in.get(reverse("agents:tools")).content.decode()

    assert "<code>d8</code></a>" in body and ">d8</a></td>" in body
    assert len(many) == len(one)


def test_the_tools_page_says_when_custom_tools_cannot_run_here(signed_in, settings):
    assert "cannot run on this server" not in signed_in.get("/tools/").content.decode()
    settings.TOOL_SANDBOX = "off"

    page = signed_in.get("/tools/").content.decode()

    assert "Custom tools cannot run on this server" in page
    assert "TOOL_SANDBOX=off" in page
