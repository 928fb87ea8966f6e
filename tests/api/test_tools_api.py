"""`/v1/tools` as Letta's clients use it: Letta Code asks for the base tools at every
start (`POST /v1/tools/add-base-tools`), the SDKs list tools by name, type and page."""

from __future__ import annotations


def names(tools: list[dict]) -> list[str]:
    return [tool["name"] for tool in tools]


def test_adding_the_base_tools_answers_every_tool_as_the_list_shows_it(api):
    added = api.post("/v1/tools/add-base-tools")

    assert added.status_code == 200, added.content
    assert added.json() == api.get("/v1/tools/", {"limit": 1000}).json()
    send = next(tool for tool in added.json() if tool["name"] == "send_message")
    assert send["id"].startswith("tool-")
    assert send["json_schema"]["parameters"]["required"] == ["message"]
    assert {"core_memory_append", "memory_insert", "archival_memory_search"} <= set(
        names(added.json())
    )


def test_adding_them_again_changes_nothing(api):
    first = api.post("/v1/tools/add-base-tools").json()

    assert api.post("/v1/tools/add-base-tools").json() == first


def test_tools_are_found_by_name_names_search_and_type(api):
    assert names(api.get("/v1/tools/", {"name": "send_message"}).json()) == ["send_message"]
    assert names(api.get("/v1/tools/", {"names": ["memory_insert", "send_message"]}).json()) == [
        "send_message",
        "memory_insert",
    ]
    assert names(api.get("/v1/tools/", {"names": "memory_insert,memory_rethink"}).json()) == [
        "memory_insert",
        "memory_rethink",
    ]
    assert names(api.get("/v1/tools/", {"search": "ARCHIVAL"}).json()) == [
        "archival_memory_insert",
        "archival_memory_search",
    ]
    sleeptime = api.get("/v1/tools/", {"tool_types": "letta_sleeptime_core"}).json()
    core = api.get("/v1/tools/", {"exclude_tool_types": "letta_sleeptime_core"}).json()
    assert {tool["tool_type"] for tool in sleeptime} == {"letta_sleeptime_core"}
    assert "letta_sleeptime_core" not in {tool["tool_type"] for tool in core}
    assert api.get("/v1/tools/", {"name": "web_search"}).json() == []


def test_a_page_of_tools_starts_after_the_cursor(api):
    everything = api.get("/v1/tools/", {"limit": 1000}).json()

    first = api.get("/v1/tools/", {"limit": 2}).json()
    second = api.get("/v1/tools/", {"limit": 2, "after": first[-1]["id"]}).json()

    assert first + second == everything[:4]
