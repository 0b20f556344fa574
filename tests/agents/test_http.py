"""The MCP server over Streamable HTTP at /mcp/, driven by the official SDK's client against a real
uvicorn serving nyxsync.asgi, on repositories synced for real from the local git server."""

import anyio
import httpx
import pytest
from mcp import MCPError

from projects.models import Membership
from syncs.models import SyncRun
from tests.agents.conftest import http_client, text_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]

TOOLS = {"search_code", "list_projects", "sync_status", "sync", "read_file"}


def run(coroutine_function, *args):
    return anyio.run(coroutine_function, *args)


def test_it_lists_its_tools_with_schemas_and_descriptions(mcp_web, world):
    async def main():
        async with http_client(mcp_web.url, world["tokens"]["owner"]) as client:
            return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in run(main)}

    assert set(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description) > 80 and tool.output_schema
    search = tools["search_code"].input_schema
    assert search["required"] == ["query"]
    assert {"query", "project", "branch", "k", "path_glob", "language"} == set(search["properties"])
    assert search["properties"]["k"]["maximum"] == 100 and search["properties"]["query"]["description"]
    assert tools["sync"].input_schema["required"] == ["project", "branch"]
    assert tools["search_code"].annotations.read_only_hint and not tools["sync"].annotations.read_only_hint


@pytest.mark.parametrize("scheme", ["Bearer", "Token"])
def test_a_search_finds_the_defining_file(mcp_web, world, scheme):
    async def main():
        async with http_client(mcp_web.url, world["tokens"]["owner"], scheme=scheme) as client:
            return await client.call_tool("search_code", {"query": "compute_invoice_total", "project": "mine", "k": 3})

    result = run(main)

    assert not result.is_error, text_of(result)
    best = result.structured_content["results"][0]
    assert (best["project"], best["branch"], best["path"], best["commit"]) == ("owner/mine", "main", "billing.py", world["head"])
    assert best["start_line"] <= 4 <= best["end_line"] and "def compute_invoice_total(lines):" in best["text"]
    assert 0 < best["score"] <= 1
    assert result.structured_content["searched"] == ["owner/mine@main"]


def test_an_older_client_on_the_initialize_handshake_gets_the_same_answers(mcp_web, world):
    async def main():
        async with http_client(mcp_web.url, world["tokens"]["owner"], mode="legacy") as client:
            tools = (await client.list_tools()).tools
            found = await client.call_tool("search_code", {"query": "UserRepository find_by_email"})
            return tools, found

    tools, found = run(main)

    assert {tool.name for tool in tools} == TOOLS
    assert found.structured_content["results"][0]["path"] == "users.py"


def test_it_answers_401_before_any_mcp_message_without_a_valid_token(mcp_web, world):
    initialize = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream"}

    missing = httpx.post(mcp_web.url, json=initialize, headers=headers, timeout=10)
    wrong = httpx.post(mcp_web.url, json=initialize, headers={**headers, "Authorization": "Bearer not-a-token"}, timeout=10)
    basic = httpx.post(mcp_web.url, json=initialize, headers={**headers, "Authorization": "Basic b3duZXI6cHc="}, timeout=10)
    good = httpx.post(mcp_web.url, json=initialize, headers={**headers, "Authorization": f"Bearer {world['tokens']['owner']}"}, timeout=10)

    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer realm="nyxsync"')
        assert "token" in response.json()["error"]
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert good.status_code == 200 and "nyxsync" in good.text
    other_host = httpx.post(
        mcp_web.url, json=initialize, headers={**headers, "Host": "evil.example", "Authorization": f"Bearer {world['tokens']['owner']}"}, timeout=10
    )
    assert other_host.status_code == 400  # ALLOWED_HOSTS, as Django checks every other page

    async def sdk_without_token():
        async with http_client(mcp_web.url, None) as client:
            await client.list_tools()

    with pytest.raises(BaseExceptionGroup) as refused:  # the SDK's client gives up on a 401
        run(sdk_without_token)
    assert refused.group_contains(MCPError, depth=None)


def test_a_token_never_sees_another_tenants_projects(mcp_web, world):
    mine = world["mine"].project

    async def main():
        async with http_client(mcp_web.url, world["tokens"]["outsider"]) as client:
            listed = await client.call_tool("list_projects", {})
            everywhere = await client.call_tool("search_code", {"query": "compute_invoice_total", "k": 50})
            by_name = await client.call_tool("search_code", {"query": "invoice", "project": "owner/mine"})
            by_uuid = await client.call_tool("sync_status", {"project": str(mine.uuid)})
            read = await client.call_tool("read_file", {"project": str(mine.uuid), "branch": "main", "path": "billing.py"})
            sync = await client.call_tool("sync", {"project": "owner/mine", "branch": "main", "wait": False})
            return listed, everywhere, by_name, by_uuid, read, sync

    listed, everywhere, by_name, by_uuid, read, sync = run(main)

    assert [p["project"] for p in listed.structured_content["projects"]] == ["outsider/theirs"]
    assert {hit["project"] for hit in everywhere.structured_content["results"]} == {"outsider/theirs"}
    for refused, ref in ((by_name, "owner/mine"), (by_uuid, str(mine.uuid)), (read, str(mine.uuid)), (sync, "owner/mine")):
        assert refused.is_error
        assert text_of(refused).endswith(f"no project {ref!r} among yours; list_projects shows them")
    assert "billing" not in str(everywhere.structured_content) and "mine" not in text_of(listed)
    assert SyncRun.objects.filter(project_sync=world["mine"]).count() == 1  # the fixture's own


def test_a_viewer_may_search_but_not_sync(mcp_web, world):
    async def main():
        async with http_client(mcp_web.url, world["tokens"]["viewer"]) as client:
            found = await client.call_tool("search_code", {"query": "compute_invoice_total", "project": "owner/mine"})
            refused = await client.call_tool("sync", {"project": "owner/mine", "branch": "main"})
            return found, refused

    found, refused = run(main)

    assert found.structured_content["results"][0]["path"] == "billing.py"
    assert refused.is_error
    assert "you may not sync owner/mine: your role is viewer; maintainers and owners may" in text_of(refused)
    assert "\n" not in text_of(refused) and "Traceback" not in text_of(refused)
    assert SyncRun.objects.filter(project_sync=world["mine"]).count() == 1


def test_a_maintainer_syncs_and_follows_the_run_through_progress_notifications(mcp_web, world, celery_worker):
    maintainer = world["viewer"]
    Membership.objects.filter(user=maintainer).update(role=Membership.Role.MAINTAINER)
    repo = world["repo"]
    repo.write("tax.py", "def apply_vat_to_invoice(total, rate):\n    return total * (1 + rate)\n")
    head = repo.commit()
    notifications = []

    async def on_progress(progress, total, message):
        notifications.append((progress, total, message))

    async def main():
        async with http_client(mcp_web.url, world["tokens"]["viewer"]) as client:
            synced = await client.call_tool("sync", {"project": "owner/mine", "branch": "main"}, progress_callback=on_progress)
            found = await client.call_tool("search_code", {"query": "apply_vat_to_invoice", "k": 1})
            return synced, found

    synced, found = run(main)

    assert not synced.is_error, text_of(synced)
    result = synced.structured_content
    assert result["run"]["status"] == "succeeded" and result["run"]["finished"] and result["run"]["commit"] == head
    assert result["coalesced"] is False and result["waited_seconds"] > 0
    assert len(notifications) >= 2
    values = [progress for progress, _, _ in notifications]
    assert values == sorted(set(values))  # strictly increasing, as MCP requires
    assert notifications[-1][:2] == (7.0, 7.0) and notifications[-1][2] == "succeeded"
    assert found.structured_content["results"][0]["path"] == "tax.py"
    run_row = SyncRun.objects.get(uuid=result["run"]["run"])
    assert (run_row.trigger, run_row.requested_by) == (SyncRun.Trigger.API, maintainer)
