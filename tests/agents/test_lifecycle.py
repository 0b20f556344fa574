"""The MCP endpoint's life inside the web server: it stops cleanly and fast on SIGTERM even with a
call in flight, and a server started without the ASGI lifespan says so instead of failing."""

import os
import signal
import time

import anyio
import httpx
import pytest
from django.db import connections

from syncs.models import SyncRun
from tests.agents.conftest import McpWeb, http_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]


def test_sigterm_stops_the_server_within_seconds_while_a_sync_is_being_followed(world, tmp_path):
    # A queue of its own that no worker reads: the run it triggers waits, and so does the call.
    server = McpWeb(tmp_path, extra_env={"NYXSYNC_TEST_RUN_ID": f"lifecycle-{os.getpid()}", "NYXSYNC_MCP_SYNC_WAIT_SECONDS": "600"})
    server.start()
    outcome = {}

    async def follow():
        try:
            async with http_client(server.url, world["tokens"]["owner"]) as client:
                outcome["result"] = await client.call_tool("sync", {"project": "mine", "branch": "main"})
        except BaseException as exc:  # the server going away ends the call, one way or another
            outcome["error"] = exc

    async def main():
        async with anyio.create_task_group() as group:
            group.start_soon(follow)
            with anyio.fail_after(30):
                while not SyncRun.objects.filter(project_sync=world["mine"], status=SyncRun.Status.QUEUED).exists():
                    await anyio.sleep(0.1)
            connections.close_all()  # the loop's own connection (Django keeps one per async context)
            await anyio.sleep(1)  # the call is now following the queued run
            outcome["stopping"] = time.monotonic()
            outcome["code"] = await anyio.to_thread.run_sync(server.stop)
            outcome["stopped"] = time.monotonic()

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # this test's own ORM polling, in the loop
    try:
        anyio.run(main)
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

    assert outcome["code"] in (0, -signal.SIGTERM), server.log()  # uvicorn exits by the signal it stopped for
    assert outcome["stopped"] - outcome["stopping"] < 8, server.log()
    assert "result" not in outcome  # the call did not get an answer: the server stopped under it
    assert "Traceback" not in server.log(), server.log()
    assert SyncRun.objects.get(project_sync=world["mine"], status=SyncRun.Status.QUEUED)  # the run is kept


def test_without_the_lifespan_the_endpoint_says_what_it_needs(world, tmp_path):
    server = McpWeb(tmp_path)
    server.start = _start_without_lifespan.__get__(server)
    server.start()
    try:
        response = httpx.post(server.url, json={}, headers={"Authorization": f"Bearer {world['tokens']['owner']}"}, timeout=10)
        page = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)
    finally:
        server.stop()

    assert response.status_code == 503
    assert response.json() == {"error": "the MCP endpoint needs the ASGI lifespan: run uvicorn with --lifespan on (or auto)"}
    assert page.status_code in (200, 503) and "database" in page.text  # Django serves the rest as ever


def _start_without_lifespan(self):
    import subprocess

    from django.conf import settings

    from nyxsync.management.commands.run import web_command
    from tests.gitserver import wait_for_port

    command = [*web_command("127.0.0.1", self.port), "--log-level", "warning"]
    command[command.index("--lifespan") + 1] = "off"
    self.process = subprocess.Popen(
        command, env=self.env, cwd=settings.BASE_DIR, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_for_port(self.port, process=self.process, timeout=60)
    return self
