"""What each MCP tool does, as plain functions of (user, arguments) -> a JSON-safe dict.

Thin: each one acts for the user (row-level security, nyxsync.tenancy), reaches projects only
through projects.selectors and branches and runs through syncs.selectors, asks
projects.permissions, and calls the same search and services as the REST API. Whatever the agent
can act on (an unknown project, a missing permission, a branch not searchable yet) raises
AgentError with one line written for it; a missing project and another tenant's look alike.
"""

from __future__ import annotations

import logging
import math

from embeddings.backends import EmbeddingError
from embeddings.live_files import live_file_text
from embeddings.search import SearchError, search
from nyxsync import tenancy
from nyxsync.api import SearchThrottle, SyncTriggerThrottle, throttle_wait
from projects import permissions
from projects.selectors import projects_for_user, projects_named_for_user
from syncs import selectors as sync_selectors
from syncs import services as sync_services
from syncs.events import run_event
from syncs.models import SyncRun

logger = logging.getLogger(__name__)

READ_MAX_LINES = 2000
# The order a run goes through its phases: progress across the whole run, for notifications.
PHASES = [
    SyncRun.Phase.QUEUED, SyncRun.Phase.FETCH, SyncRun.Phase.DIFF, SyncRun.Phase.CHUNK,
    SyncRun.Phase.EMBED, SyncRun.Phase.WRITE, SyncRun.Phase.SWAP, SyncRun.Phase.DONE,
]  # fmt: skip


class AgentError(Exception):
    """A failure the agent can act on; the message is one line for it to read."""


# --- tools --------------------------------------------------------------------------------------


def list_projects(user) -> dict:
    with tenancy.acting_as(user):
        projects = list(projects_for_user(user).select_related("owner").order_by("name", "owner__username"))
        project_syncs = list(sync_selectors.project_sync_list(projects=projects))
        runs = sync_selectors.sync_runs_current(project_syncs)
        return {
            "projects": [
                {
                    **_project_info(user, project),
                    "branches": [
                        _branch_info(project_sync, runs.get(project_sync.pk))
                        for project_sync in project_syncs
                        if project_sync.project_id == project.pk
                    ],
                }
                for project in projects
            ]
        }


def search_code(
    user,
    *,
    query: str,
    project: str | list[str] | None = None,
    branch: str | None = None,
    k: int = 10,
    path_glob: str | None = None,
    language: str | None = None,
) -> dict:
    with tenancy.acting_as(user):
        _throttle(user, SearchThrottle)
        refs = [project] if isinstance(project, str) else list(project or [])
        projects = [_project(user, ref) for ref in refs] if refs else list(projects_for_user(user).select_related("owner"))
        if not projects:
            raise AgentError("you have no projects yet: link a repository in nyxsync first")
        project_syncs = list(sync_selectors.project_sync_list(projects=projects, branch=branch))
        if branch is not None and not project_syncs:
            raise AgentError(f"no synced branch {branch!r} in {_names(projects)}; list_projects shows the branches")
        live = [project_sync for project_sync in project_syncs if project_sync.live_generation > 0]
        if not live:
            raise AgentError(_not_searchable(project_syncs, projects))
        try:
            hits = search(project_syncs=live, query=query, k=k, path_glob=path_glob, language=language)
        except SearchError as exc:
            raise AgentError(str(exc)) from None
        except EmbeddingError:
            logger.warning("agents.search.embedding_failed", exc_info=True)
            raise AgentError("the embedding backend is not available; try again later") from None
        by_id = {project_sync.pk: project_sync for project_sync in live}
        return {
            "results": [
                {
                    "project": _ref(by_id[hit.project_sync_id].project),
                    "branch": hit.branch,
                    "path": hit.path,
                    "start_line": hit.start_line,
                    "end_line": hit.end_line,
                    "commit": hit.commit,
                    "score": round(hit.score, 4),
                    "text": hit.text,
                }
                for hit in hits
            ],
            "searched": [f"{_ref(project_sync.project)}@{project_sync.branch}" for project_sync in live],
            "not_searchable_yet": [
                f"{_ref(project_sync.project)}@{project_sync.branch}"
                for project_sync in project_syncs
                if project_sync.live_generation == 0
            ],
        }


def sync_status(user, *, project: str, branch: str | None = None) -> dict:
    with tenancy.acting_as(user):
        found = _project(user, project)
        if branch is not None:
            project_syncs = [_branch(found, branch)]
        else:
            project_syncs = list(sync_selectors.project_sync_list(projects=[found]))
        runs = sync_selectors.sync_runs_current(project_syncs)
        branches = [_branch_info(project_sync, runs.get(project_sync.pk)) for project_sync in project_syncs]
        return {**_project_info(user, found), "branches": branches}


def sync(user, *, project: str, branch: str) -> dict:
    """Trigger a sync (maintainers and owners), coalesced like every other trigger."""
    with tenancy.acting_as(user):
        found = _project(user, project)
        project_sync = _branch(found, branch)
        if not permissions.can_sync(user, found):
            role = permissions.role_of(user, found)
            raise AgentError(f"you may not sync {_ref(found)}: your role is {role}; maintainers and owners may")
        _throttle(user, SyncTriggerThrottle)
        run, created = sync_services.sync_run_enqueue(
            project_sync=project_sync, trigger=SyncRun.Trigger.API, requested_by=user
        )
        return {"project": _ref(found), "branch": project_sync.branch, "coalesced": not created, "run": _run_info(run)}


def sync_run(user, *, project: str, run: str) -> dict:
    """A run of `project` as it is now (what `sync` follows while it waits)."""
    with tenancy.acting_as(user):
        found = _project(user, project)
        current = sync_selectors.sync_run_get(project=found, uuid=run)
        if current is None:
            raise AgentError(f"no run {run!r} in {_ref(found)}")
        return _run_info(current)


def read_file(
    user, *, project: str, branch: str, path: str, start_line: int = 1, end_line: int | None = None
) -> dict:
    with tenancy.acting_as(user):
        found = _project(user, project)
        project_sync = _branch(found, branch)
        where = f"{_ref(found)}@{project_sync.branch}"
        if project_sync.live_generation == 0:
            raise AgentError(f"{where} has no live snapshot yet (its first sync has not finished); sync_status tells")
        text = live_file_text(project_sync=project_sync, path=path)
        if text is None:
            raise AgentError(f"no file {path!r} in the live snapshot of {where} (paths are relative to the repository root)")
        if text.skip_reason:
            raise AgentError(f"{path!r} is in {where} but was not indexed ({text.skip_reason}), so its text is not stored")
        total = len(text.lines)
        if end_line is not None and end_line < start_line:
            raise AgentError(f"end_line ({end_line}) is before start_line ({start_line})")
        if total and start_line > total:
            raise AgentError(f"{path!r} has {total} lines; start_line {start_line} is past its end")
        last = min(end_line or total, total, start_line + READ_MAX_LINES - 1)
        return {
            "project": _ref(found),
            "branch": project_sync.branch,
            "commit": project_sync.live_commit,
            "path": path,
            "language": text.language,
            "start_line": start_line,
            "end_line": last,
            "total_lines": total,
            "truncated": last < min(end_line or total, total),
            "text": "\n".join(text.lines[start_line - 1 : last]),
        }


# --- lookups and shapes -------------------------------------------------------------------------


def _project(user, ref: str):
    """The one project `ref` (uuid, name or owner/name) names among those `user` may see."""
    matches = projects_named_for_user(user, ref)
    if not matches:
        raise AgentError(f"no project {ref!r} among yours; list_projects shows them")
    if len(matches) > 1:
        raise AgentError(f"{ref!r} names {len(matches)} projects: say which with one of {', '.join(_ref(p) for p in matches)}")
    return matches[0]


def _branch(project, branch: str):
    project_sync = sync_selectors.project_sync_list(projects=[project], branch=branch).first()
    if project_sync is None:
        synced = ", ".join(synced.branch for synced in sync_selectors.project_sync_list(projects=[project])) or "none"
        raise AgentError(f"{_ref(project)} has no synced branch {branch!r} (its branches: {synced})")
    return project_sync


def _ref(project) -> str:
    """How agents name a project unambiguously: owner/name."""
    return f"{project.owner.get_username()}/{project.name}"


def _names(projects) -> str:
    return ", ".join(_ref(project) for project in projects)


def _not_searchable(project_syncs, projects) -> str:
    if not project_syncs:
        return f"nothing to search: {_names(projects)} has no synced branches yet"
    runs = sync_selectors.sync_runs_current(project_syncs)
    states = []
    for project_sync in project_syncs:
        run = runs.get(project_sync.pk)
        if run is None:
            state = "never synced"
        elif run.status == SyncRun.Status.FAILED:
            state = f"its first sync failed in {run.error_phase or run.phase}: {' '.join(run.error.split())[:200]}"
        else:
            state = f"first sync {run.status}, {run.phase} {run.progress_done}/{run.progress_total}"
        states.append(f"{_ref(project_sync.project)}@{project_sync.branch}: {state}")
    return f"nothing to search yet ({'; '.join(states)}); sync_status follows a sync, sync starts one"


def _project_info(user, project) -> dict:
    return {
        "project": _ref(project),
        "name": project.name,
        "uuid": str(project.uuid),
        "owner": project.owner.get_username(),
        "repository": project.repository,
        "role": permissions.role_of(user, project),
        "sync_status": project.sync_status,
    }


def _branch_info(project_sync, run: SyncRun | None) -> dict:
    return {
        "branch": project_sync.branch,
        "searchable": project_sync.live_generation > 0,
        "live_commit": project_sync.live_commit or None,
        "last_synced_at": _when(project_sync.last_synced_at),
        "chunks": project_sync.live_chunk_count,
        "embedding_model": project_sync.embedding_model,
        "run": _run_info(run) if run is not None else None,
    }


def _run_info(run: SyncRun) -> dict:
    event = run_event(run, eta_seconds=sync_selectors.eta_seconds_estimate(run))
    return {
        "run": event["run"],
        "status": event["status"],
        "phase": event["phase"],
        "finished": event["finished"],
        "done": event["done"],
        "total": event["total"],
        "percent": event["percent"],
        "eta_seconds": event["eta_seconds"],
        "trigger": event["trigger"],
        "commit": event["commit"] or None,
        "files_changed": event["files_changed"],
        "chunks_embedded": event["chunks_embedded"],
        "chunks_reused": event["chunks_reused"],
        "error": event["error"] or None,
        "created_at": _when(run.created_at),
        "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at),
    }


def run_progress(run: dict) -> float:
    """How far a run is, in phases (0 to len(PHASES) - 1), increasing through the run."""
    index = PHASES.index(run["phase"]) if run["phase"] in PHASES else 0
    fraction = min(run["done"] / run["total"], 1.0) if run["total"] else 0.0
    return float(len(PHASES) - 1) if run["finished"] else index + fraction


def _when(moment) -> str | None:
    return moment.isoformat() if moment else None


def _throttle(user, throttle_class) -> None:
    """The REST API's throttle of the same scope (its rates and its counters in the cache): a
    user has one budget across both doors."""
    wait = throttle_wait(throttle_class, user)
    if wait is not None:
        raise AgentError(f"too many requests: try again in {math.ceil(wait)} s")
