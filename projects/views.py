"""Project pages: the list, linking a repository (with its branch picker), a project's branches with
live progress and run history, and the JSON state those pages re-read after a lost stream.

Projects come only from projects.selectors (missing and foreign look alike: 404). Pages read the
stream position (`get_current_event_id`) before the state they render, so the stream resumes
right after it and no change falls between the two."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods
from django_eventstream import get_current_event_id

from projects.branches import BranchesError, repository_branches
from projects.forms import RepositoryLinkForm
from projects.permissions import can_sync, can_view
from projects.selectors import project_get_for_user, projects_for_user, projects_get_for_user
from projects.services import ProjectError
from syncs.events import project_channel, run_event
from syncs.repository_input import InvalidInput
from syncs.selectors import project_syncs_of, project_syncs_of_projects, sync_runs_current, sync_runs_of
from syncs.services import project_sync_link
from syncs.views import MAX_STREAM_CHANNELS, json_not_found, run_panel

# One page of projects is one stream (django-eventstream takes at most 10 channels per stream,
# and a browser keeps at most 6 connections per host, so one stream per project would not do).
PROJECTS_PER_PAGE = MAX_STREAM_CHANNELS
RUN_HISTORY = 25


def _project_or_404(user, uuid):
    project = project_get_for_user(user, uuid=uuid)
    if project is None or not can_view(user, project):
        raise Http404("no such project")
    return project


def _branch_rows(project_syncs) -> list[dict]:
    current = sync_runs_current(project_syncs)
    rows = []
    for sync in project_syncs:
        run = current.get(sync.pk)
        rows.append({"sync": sync, "run": run, "panel": run_panel(run)})
    return rows


def _stream_urls(projects) -> dict:
    query = urlencode([("project", str(project.uuid)) for project in projects])
    return {"stream_url": f"{reverse('project_events')}?{query}", "state_url": f"{reverse('projects:list_state')}?{query}"}


@login_required
@require_GET
def project_list(request):
    page = Paginator(projects_for_user(request.user), PROJECTS_PER_PAGE).get_page(request.GET.get("page"))
    projects = list(page.object_list)
    event_id = get_current_event_id([project_channel(project.uuid) for project in projects]) if projects else ""
    rows = _branch_rows(list(project_syncs_of_projects(projects)))
    by_project = {project.pk: [] for project in projects}
    for row in rows:
        by_project[row["sync"].project_id].append(row)
    context = {
        "page": page,
        "projects": [(project, by_project[project.pk]) for project in projects],
        "event_id": event_id,
        "initial_runs": [row["panel"] for row in rows if row["panel"]],
        **(_stream_urls(projects) if projects else {}),
    }
    return render(request, "projects/list.html", context)


@login_required
@require_GET
def project_list_state(request):
    """The current run of every branch of `?project=<uuid>` (repeated): what the list shows."""
    projects = projects_get_for_user(request.user, uuids=request.GET.getlist("project")[:PROJECTS_PER_PAGE])
    event_id = get_current_event_id([project_channel(project.uuid) for project in projects]) if projects else ""
    runs = sync_runs_current(list(project_syncs_of_projects(projects))).values()
    return JsonResponse({"event_id": event_id, "runs": [run_event(run) for run in runs]})


@login_required
@require_http_methods(["GET", "POST"])
def project_link(request):
    if request.method == "POST":
        form = RepositoryLinkForm(request.POST)
    else:
        form = RepositoryLinkForm(initial={"repository": request.GET.get("repository", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sync = project_sync_link(owner=request.user, repository=data["repository"], branch=data["branch"], name=data["name"] or None)
        except ProjectError as exc:
            form.add_error("name", str(exc))
        except InvalidInput as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Linked {sync.project.repository} on branch {sync.branch}. Press Sync to embed it.")
            return redirect("projects:detail", project=sync.project.uuid)
    return render(request, "projects/link.html", {"form": form})


@login_required
@require_GET
def repository_branches_json(request):
    """The branch picker: `?repository=` -> its branches, default first; or the error to show."""
    try:
        branches = repository_branches(request.GET.get("repository", "").strip())
    except BranchesError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"repository": branches.repository, "default": branches.default, "branches": branches.names})


@login_required
@require_GET
def project_detail(request, project):
    project = _project_or_404(request.user, project)
    channel = project_channel(project.uuid)
    event_id = get_current_event_id([channel])
    rows = _branch_rows(list(project_syncs_of(project)))
    history = [(run, run_panel(run)) for run in sync_runs_of(project, limit=RUN_HISTORY)]
    context = {
        "project": project,
        "branches": rows,
        "history": history,
        "can_sync": can_sync(request.user, project),
        "event_id": event_id,
        "initial_runs": [row["panel"] for row in rows if row["panel"]],
        **_stream_urls([project]),
        "state_url": reverse("projects:state", kwargs={"project": project.uuid}),
    }
    return render(request, "projects/detail.html", context)


@login_required
@require_GET
def project_state(request, project):
    """The true state of the project's branches (their current runs), after a lost stream."""
    project = project_get_for_user(request.user, uuid=project)
    if project is None or not can_view(request.user, project):
        return json_not_found()
    event_id = get_current_event_id([project_channel(project.uuid)])
    runs = sync_runs_current(list(project_syncs_of(project))).values()
    return JsonResponse({"event_id": event_id, "runs": [run_event(run) for run in runs]})
