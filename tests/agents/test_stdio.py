"""`manage.py mcp`: the same MCP server over stdio, launched as a subprocess by the official SDK's
client, as an agent on the user's machine launches it."""

import os
import subprocess
import sys

import anyio
import pytest
from django.conf import settings
from django.db import connections

from nyxsync.api_tokens import api_token_revoke
from tests.agents.conftest import STDIO_APPLICATION_NAME, stdio_client, text_of, wait_for_sessions_to_end
from tests.workers import database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]


@pytest.fixture(autouse=True)
def _sessions_end_with_the_process():
    yield
    wait_for_sessions_to_end(STDIO_APPLICATION_NAME)


def test_it_answers_the_same_search_for_the_user_named_by_as(world):
    async def main():
        async with stdio_client("--as", "owner") as client:
            tools = (await client.list_tools()).tools
            found = await client.call_tool("search_code", {"query": "compute_invoice_total"})
            listed = await client.call_tool("list_projects", {})
            return tools, found, listed

    tools, found, listed = anyio.run(main)

    assert {tool.name for tool in tools} == {"search_code", "list_projects", "sync_status", "sync", "read_file"}
    best = found.structured_content["results"][0]
    assert (best["path"], best["commit"]) == ("billing.py", world["head"])
    assert [p["project"] for p in listed.structured_content["projects"]] == ["owner/mine"]


def test_it_acts_for_the_owner_of_the_token_in_the_environment_until_it_is_revoked(world, outsider):
    def revoke():
        try:
            api_token_revoke(user=outsider)
        finally:
            connections.close_all()  # this helper thread's connection

    async def main():
        async with stdio_client(env={"NYXSYNC_API_TOKEN": world["tokens"]["outsider"]}) as client:
            listed = await client.call_tool("list_projects", {})
            foreign = await client.call_tool("read_file", {"project": "owner/mine", "branch": "main", "path": "billing.py"})
            await anyio.to_thread.run_sync(revoke)
            after = await client.call_tool("list_projects", {})
            return listed, foreign, after

    listed, foreign, after = anyio.run(main)

    assert [p["project"] for p in listed.structured_content["projects"]] == ["outsider/theirs"]
    assert foreign.is_error and "no project 'owner/mine' among yours" in text_of(foreign)
    assert after.is_error and text_of(after).endswith("not authenticated: the API token was revoked or has expired, or the user is inactive")  # checked again at every call


@pytest.mark.parametrize(
    ("args", "token", "message"),
    [
        ([], "", "say whom to act for: --as USERNAME, or an API token in $NYXSYNC_API_TOKEN"),
        ([], "not-a-token", "the API token in $NYXSYNC_API_TOKEN is invalid or revoked"),
    ],
)
def test_it_refuses_to_start_without_a_known_user(world, args, token, message):
    environ = {name: value for name, value in os.environ.items() if name != "NYXSYNC_API_TOKEN"}
    result = subprocess.run(
        [sys.executable, "manage.py", "mcp", *args],
        cwd=settings.BASE_DIR,
        env={
            **environ,
            "DJANGO_SETTINGS_MODULE": "nyxsync.settings.test",
            "DATABASE_URL": database_url(),
            "NYXSYNC_API_TOKEN": token,
        },
        input=b"",
        capture_output=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert result.stdout == b""  # stdout is the protocol's
    assert result.stderr.decode().strip().splitlines()[-1] == f"CommandError: {message}"
