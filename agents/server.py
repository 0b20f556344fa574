"""nyxsync's MCP server (the official SDK's MCPServer): the tools coding agents call, for both
transports (Streamable HTTP at /mcp/, agents.http; stdio, `manage.py mcp`).

Each tool is a thin async shell: it finds whom the call acts for, runs the plain function of
agents.tools in a worker thread (the ORM is synchronous), and turns its AgentError into an MCP
tool error of one line. Anything else fails as the SDK's generic tool error, logged here with
its traceback and never sent to the agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from agents import schemas, tools

# Where agents.http puts the user an HTTP request's token belongs to.
SCOPE_USER = "nyxsync.user"
FOLLOW_POLL_SECONDS = 0.5

INSTRUCTIONS = """\
nyxsync keeps a searchable index (embeddings and full text) of Git branches of your projects, \
synced to each branch's latest commit. Start with list_projects to see your projects and \
branches. search_code finds code by meaning, words or identifier and returns chunks with path, \
line range and commit; read_file opens a file of the indexed snapshot around what search found. \
A branch answers only once its first sync finished: sync_status tells, sync (maintainers) \
starts one and follows it. Name a project by owner/name as list_projects shows it, by its bare \
name when that is unambiguous, or by uuid."""

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

ProjectRef = Annotated[
    str, Field(description="The project: owner/name as list_projects shows it, its name alone when unambiguous, or its uuid.")
]


# --- tools --------------------------------------------------------------------------------------


async def search_code(
    ctx: Context,
    query: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2000,
            description="What to find: an identifier (parse_config), words, or a question in plain language.",
        ),
    ],
    project: Annotated[
        str | list[str] | None,
        Field(description="One project or a list of them (owner/name, name or uuid); omit to search all your projects."),
    ] = None,
    branch: Annotated[str | None, Field(description="Only branches of this name (say main); omit for every synced branch.")] = None,
    k: Annotated[int, Field(ge=1, le=100, description="How many results (1-100).")] = 10,
    path_glob: Annotated[
        str | None,
        Field(description="Only files matching this glob: * and ? stay in one folder, ** crosses folders; *.py matches in any folder, src/**/*.ts under src."),
    ] = None,
    language: Annotated[
        str | None, Field(description="Only files of this language: python, typescript, javascript, go, rust, java, markdown, ...")
    ] = None,
) -> schemas.SearchResult:
    """Search the indexed code of your projects: hybrid search (embedding similarity, full-text
    matches and, for identifiers, their definitions, fused by rank) over the live snapshot of
    each synced branch. Returns the best chunks first, each with project, branch, path, line
    range, commit, score and its text; open more of a file with read_file. Fails with a one-line
    reason for an unknown project or branch, or when no branch in scope has finished its first
    sync yet."""
    return await _call(
        ctx, tools.search_code, query=query, project=project, branch=branch, k=k, path_glob=path_glob, language=language
    )


async def list_projects(ctx: Context) -> schemas.ProjectList:
    """List the projects you may see, with your role in each and their synced branches: whether
    each branch is searchable yet, its live commit, chunk count and its current or latest sync
    run. Project names here (owner/name) are what the other tools take."""
    return await _call(ctx, tools.list_projects)


async def sync_status(
    ctx: Context,
    project: ProjectRef,
    branch: Annotated[str | None, Field(description="One branch; omit for all of the project's branches.")] = None,
) -> schemas.ProjectWithBranches:
    """Show the sync state of a project's branches: the live snapshot search answers from
    (commit, chunks, last synced) and the current run (status, phase, done/total, percent and
    ETA of the phase), or the latest run when none is active."""
    return await _call(ctx, tools.sync_status, project=project, branch=branch)


async def sync(
    ctx: Context,
    project: ProjectRef,
    branch: Annotated[str, Field(description="The synced branch to bring up to its newest commit (say main).")],
    wait: Annotated[
        bool,
        Field(description="Follow the run until it ends (with progress notifications), up to a few minutes; false returns at once."),
    ] = True,
) -> schemas.SyncTriggered:
    """Sync a branch now: fetch its newest commit and index what changed (maintainers and
    owners only). Joins a run already waiting for the branch rather than starting another.
    With wait (the default) the call follows the run, sending progress notifications, and
    returns when it ends or after the server's wait limit; the run goes on either way, and
    sync_status follows it after that."""
    started = time.monotonic()
    triggered = await _call(ctx, tools.sync, project=project, branch=branch)
    run = triggered["run"]
    deadline = started + settings.NYXSYNC_MCP_SYNC_WAIT_SECONDS
    reported = -1.0
    while wait:
        progress = tools.run_progress(run)
        if progress > reported:  # MCP progress only ever increases
            await ctx.report_progress(progress, float(len(tools.PHASES) - 1), _progress_message(run))
            reported = progress
        if run["finished"] or time.monotonic() >= deadline:
            break
        await anyio.sleep(FOLLOW_POLL_SECONDS)
        run = await _call(ctx, tools.sync_run, project=project, run=run["run"])
    return {**triggered, "run": run, "waited_seconds": round(time.monotonic() - started, 2) if wait else 0.0}


async def read_file(
    ctx: Context,
    project: ProjectRef,
    branch: Annotated[str, Field(description="The synced branch (say main).")],
    path: Annotated[str, Field(min_length=1, max_length=4096, description="Path from the repository root, as search_code returns it.")],
    start_line: Annotated[int, Field(ge=1, description="First line to return (1-based).")] = 1,
    end_line: Annotated[int | None, Field(ge=1, description="Last line to return (inclusive); omit for the end of the file.")] = None,
) -> schemas.FileText:
    """Read a file of a branch's live snapshot (the commit search answers from), whole or a
    line range, at most 2000 lines a call. The text is rebuilt from the indexed chunks: lines
    that are blank or whitespace only come back empty, and files the indexer skipped (binary,
    vendored, generated, too large) cannot be read here."""
    return await _call(
        ctx, tools.read_file, project=project, branch=branch, path=path, start_line=start_line, end_line=end_line
    )


TOOLS = [
    (search_code, READ_ONLY),
    (list_projects, READ_ONLY),
    (sync_status, READ_ONLY),
    (sync, ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)),
    (read_file, READ_ONLY),
]


def build_server(*, caller: Callable[[], object] | None = None) -> MCPServer:
    """The server with every tool. `caller` (stdio): returns the user the process acts for, on
    each call (None refuses it); over HTTP each request brings its user (agents.http)."""

    @asynccontextmanager
    async def lifespan(_server):
        yield {"caller": caller}

    server = MCPServer("nyxsync", title="nyxsync code search", instructions=INSTRUCTIONS, lifespan=lifespan, log_level="WARNING")
    for function, hints in TOOLS:
        server.add_tool(function, annotations=hints)
    server.middleware.append(_OneLineArgumentErrors(server))
    return server


# --- plumbing -----------------------------------------------------------------------------------


async def _call(ctx: Context, function, **arguments):
    """function(user, **arguments) in a worker thread, for the user this call acts for."""
    who = _caller(ctx)

    def work():
        try:
            user = who()
            if user is None:
                raise tools.AgentError("not authenticated: the API token was revoked or has expired, or the user is inactive")
            return function(user, **arguments)
        finally:
            # Not kept for the next call: this worker thread may never run again, and a
            # connection left in it would stay open (reconnecting costs about 8 ms).
            connections.close_all()

    try:
        return await sync_to_async(work, thread_sensitive=False)()
    except tools.AgentError as exc:
        raise ToolError(str(exc)) from None


def _caller(ctx: Context) -> Callable[[], object]:
    request = ctx.request_context.request
    if request is not None:
        user = request.scope.get(SCOPE_USER)  # None: refused (agents.http lets none through)
        return lambda: user
    return ctx.request_context.lifespan_context.get("caller") or (lambda: None)


class _OneLineArgumentErrors:
    """A call refused for its arguments says why in one line, from the tool's JSON schema
    ("k: 500 is greater than the maximum of 100"), where the SDK passes on pydantic's report of
    several lines. Only error results are looked at; anything else goes through as it is."""

    def __init__(self, server: MCPServer):
        self.server = server
        self.validators: dict | None = None

    async def __call__(self, ctx, call_next):
        result = await call_next(ctx)
        if ctx.method != "tools/call" or not isinstance(result, dict) or not result.get("isError"):
            return result
        params = ctx.params or {}
        if self.validators is None:
            self.validators = {tool.name: Draft202012Validator(tool.input_schema) for tool in await self.server.list_tools()}
        validator = self.validators.get(params.get("name"))
        arguments = params.get("arguments") or {}
        error = best_match(validator.iter_errors(arguments)) if validator is not None and isinstance(arguments, dict) else None
        if error is None:
            return result
        where = ".".join(str(part) for part in error.absolute_path)
        text = f"Error executing tool {params['name']}: invalid arguments: {f'{where}: ' if where else ''}{error.message}"
        return {**result, "content": [{"type": "text", "text": text}]}


def _progress_message(run: dict) -> str:
    if run["finished"]:
        return f"{run['status']}" + (f": {run['error']}" if run["error"] else "")
    message = f"{run['status']}, {run['phase']}"
    if run["total"]:
        message += f" {run['done']}/{run['total']}"
    if run["eta_seconds"] is not None:
        message += f", about {round(run['eta_seconds'])} s left in this phase"
    return message
