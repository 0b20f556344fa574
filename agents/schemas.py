"""The shapes the MCP tools return (their output schemas): what agents.tools builds, described
for an agent that never read our docs."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Run(BaseModel):
    run: str = Field(description="Run id.")
    status: str = Field(description="queued, running, succeeded, up_to_date, failed or cancelled.")
    phase: str = Field(description="queued, fetch, diff, chunk, embed, write, swap or done.")
    finished: bool = Field(description="True once the run is over (whatever its status).")
    done: int = Field(description="Items done in the current phase.")
    total: int = Field(description="Items in the current phase (0 when not known).")
    percent: float | None = Field(description="done / total in percent, when total is known.")
    eta_seconds: float | None = Field(description="Estimated seconds left in the current phase, while running.")
    trigger: str = Field(description="What started the run: api (the REST API and MCP), page, webhook, schedule, ...")
    commit: str | None = Field(description="The commit the run syncs, once fetched.")
    files_changed: int
    chunks_embedded: int = Field(description="Chunks whose vectors this run computed.")
    chunks_reused: int = Field(description="Chunks whose vectors existed already.")
    error: str | None = Field(description="Why the run failed or was cancelled.")
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class Branch(BaseModel):
    branch: str
    searchable: bool = Field(description="True once a sync finished: search and read_file answer from its live snapshot.")
    live_commit: str | None = Field(description="The commit of the live snapshot (what search answers from).")
    last_synced_at: str | None
    chunks: int = Field(description="Chunks in the live snapshot.")
    embedding_model: str
    run: Run | None = Field(description="The running run, else the waiting one, else the latest; null if never synced.")


class Project(BaseModel):
    project: str = Field(description="owner/name: how to name this project in other tools (its uuid works too).")
    name: str
    uuid: str
    owner: str
    repository: str = Field(description="The linked repository (GitHub owner/name or git URL).")
    role: str | None = Field(description="Your role: viewer (search), maintainer (also sync) or owner.")
    sync_status: str = Field(description="idle, queued, syncing, synced or failed (all branches together).")


class ProjectWithBranches(Project):
    branches: list[Branch]


class ProjectList(BaseModel):
    projects: list[ProjectWithBranches]


class Hit(BaseModel):
    project: str = Field(description="owner/name of the project.")
    branch: str
    path: str = Field(description="Path from the repository root.")
    start_line: int = Field(description="First line of the chunk (1-based).")
    end_line: int = Field(description="Last line of the chunk (inclusive).")
    commit: str = Field(description="The live commit the chunk comes from.")
    score: float = Field(description="Cosine similarity of the chunk to the query (results are ordered by a fused rank).")
    text: str = Field(description="The chunk's text.")


class SearchResult(BaseModel):
    results: list[Hit] = Field(description="Best first.")
    searched: list[str] = Field(description="The branches searched, as owner/name@branch.")
    not_searchable_yet: list[str] = Field(description="Branches in scope whose first sync has not finished (not searched).")


class SyncTriggered(BaseModel):
    project: str
    branch: str
    coalesced: bool = Field(description="True when the request joined a run already waiting (it syncs the newest commit).")
    run: Run
    waited_seconds: float = Field(description="How long this call followed the run (0 with wait=false).")


class FileText(BaseModel):
    project: str
    branch: str
    commit: str = Field(description="The live commit the text is from.")
    path: str
    language: str
    start_line: int
    end_line: int = Field(description="Last line returned (inclusive).")
    total_lines: int = Field(description="Lines in the file (trailing blank lines are not stored).")
    truncated: bool = Field(description="True when fewer lines than asked were returned (at most 2000 a call).")
    text: str = Field(description="The lines start_line..end_line joined with newlines; blank lines come back empty.")
