"""Project pages: the list, linking a repository (with its branch picker), a project's branches with
live progress and run history, and the JSON state those pages re-read after a lost stream.

Projects come only from projects.selectors (missing and foreign look alike: 404). Pages read the
stream position (`get_current_event_id`) before the state they render, so the stream resumes
right after it and no change falls between the two."""

from __future__ import annotations

import functools
import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_eventstream import get_current_event_id

from embeddings.selectors import live_index_sizes
from nyxsync.api import BranchListThrottle, throttle_wait
from projects import services
from projects.forms import GithubTokenForm, MemberAddForm, MemberRoleForm, RepositoryLinkForm
from projects.models import Membership
from projects.permissions import can_manage, can_sync, can_view
from projects.selectors import project_get_for_user, project_members, projects_for_user
from projects.services import ProjectError
from repositories.branches import BranchesError, user_repository_branches
from repositories.connections import github_connection_of
from repositories.input import InvalidInput
from syncs import services as syncs_services
from syncs.events import project_channel, run_event
from syncs.models import SyncRun
from syncs.selectors import project_sync_list, sync_run_list, sync_runs_current
from syncs.views import MAX_STREAM_CHANNELS, json_not_found, run_panel

# One page of projects is one stream (django-eventstream takes at most 10 channels per stream,
# and a browser keeps at most 6 connections per host, so one stream per project would not do).
PROJECTS_PER_PAGE = MAX_STREAM_CHANNELS
RUN_HISTORY = 25
DASHBOARD_RUNS = 50


def _project_or_404(user, uuid):
    project = project_get_for_user(user, uuid=uuid)
    if project is None or not can_view(user, project):
        raise Http404("no such project")
    return project


def _branch_rows(project_syncs) -> list[dict]:
    current = sync_runs_current(project_syncs)
    rows = []
    for project_sync in project_syncs:
        run = current.get(project_sync.pk)
        rows.append({"sync": project_sync, "run": run, "panel": run_panel(run)})
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
    rows = _branch_rows(list(project_sync_list(projects=projects)))
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
    projects = list(projects_for_user(request.user, uuids=request.GET.getlist("project")[:PROJECTS_PER_PAGE]))
    event_id = get_current_event_id([project_channel(project.uuid) for project in projects]) if projects else ""
    runs = sync_runs_current(list(project_sync_list(projects=projects))).values()
    return JsonResponse({"event_id": event_id, "runs": [run_event(run) for run in runs]})


@login_required
@require_http_methods(["GET", "POST"])
def project_link(request):
    if request.method == "POST":
        form = RepositoryLinkForm(request.POST, user=request.user)
    else:
        form = RepositoryLinkForm(initial={"repository": request.GET.get("repository", "")}, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project_sync = syncs_services.project_link(
                owner=request.user, repository=data["repository"], branch=data["branch"], name=data["name"] or None
            )
        except ProjectError as exc:
            form.add_error("name", str(exc))
        except InvalidInput as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"Linked {project_sync.project.repository} on branch {project_sync.branch}. Press Sync to embed it.",
                extra_tags="dismiss-on-run",
            )
            return redirect("projects:detail", project=project_sync.project.uuid)
    return render(request, "projects/link.html", {"form": form, "github_connection": github_connection_of(request.user)})


@login_required
@require_GET
def repository_branches_json(request):
    """The branch picker: `?repository=` -> its branches, default first; or the error to show."""
    if (wait := throttle_wait(BranchListThrottle, request.user)) is not None:  # each asks a git host
        response = JsonResponse({"error": f"Too many branch lookups: try again in {math.ceil(wait)} s."}, status=429)
        response["Retry-After"] = str(math.ceil(wait))
        return response
    try:
        branches = user_repository_branches(request.user, request.GET.get("repository", "").strip())
    except BranchesError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"repository": branches.repository, "default": branches.default, "branches": branches.names})


@login_required
@require_GET
def project_detail(request, project):
    project = _project_or_404(request.user, project)
    channel = project_channel(project.uuid)
    event_id = get_current_event_id([channel])
    rows = _branch_rows(list(project_sync_list(projects=[project])))
    history = [(run, run_panel(run)) for run in sync_run_list(project=project, limit=RUN_HISTORY)]
    manage = can_manage(request.user, project)
    context = {
        "project": project,
        "branches": rows,
        "history": history,
        "can_sync": can_sync(request.user, project),
        "can_manage": manage,
        # Owners only: who has access, and whether a repository token is set (never its value).
        "members": project_members(project=project) if manage else [],
        "roles": Membership.Role.choices,
        "member_form": MemberAddForm(),
        "token_form": GithubTokenForm(),
        "github_token_set": bool(project.github_token),
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
    runs = sync_runs_current(list(project_sync_list(projects=[project]))).values()
    return JsonResponse({"event_id": event_id, "runs": [run_event(run) for run in runs]})


@login_required
@require_GET
def project_dashboard(request, project):
    """The last DASHBOARD_RUNS runs (duration, chunks embedded and reused, failures) and each
    branch's live index size: tables the page's script draws as charts."""
    project = _project_or_404(request.user, project)
    event_id = get_current_event_id([project_channel(project.uuid)])
    project_syncs = list(project_sync_list(projects=[project]))
    sizes = live_index_sizes(project_syncs=project_syncs)
    runs = list(reversed(sync_run_list(project=project, limit=DASHBOARD_RUNS)))  # oldest first, as charts read
    context = {
        "project": project,
        "runs": [_dashboard_run(number, run) for number, run in enumerate(runs, 1)],
        "branches": [{"sync": project_sync, "size": sizes.get(project_sync.pk)} for project_sync in project_syncs],
        "failures": sum(run.status == SyncRun.Status.FAILED for run in runs),
        "event_id": event_id,
        "initial_runs": [],
        **_stream_urls([project]),
        "state_url": reverse("projects:state", kwargs={"project": project.uuid}),
    }
    return render(request, "projects/dashboard.html", context)


def _dashboard_run(number: int, run: SyncRun) -> dict:
    started = run.started_at or run.created_at
    duration = (run.finished_at - started).total_seconds() if run.finished_at else None
    return {"number": number, "run": run, "duration": duration, "failed": run.status == SyncRun.Status.FAILED}


# --- members and the repository token (owners) -----------------------------------------------


def _owners_only(refusal: str):
    """A POST of the project's owners (its members, its repository token): the project if the
    user may see it (else 404) and manage it (else 403, saying `refusal`); the view says what
    happened in a message, and the answer goes back to the project page's access section."""

    def decorate(view):
        @login_required
        @require_POST
        @functools.wraps(view)
        def owners_view(request, project, **kwargs):
            project = _project_or_404(request.user, project)
            if not can_manage(request.user, project):
                return HttpResponseForbidden(refusal)
            view(request, project, **kwargs)
            return redirect(reverse("projects:detail", kwargs={"project": project.uuid}) + "#access")

        return owners_view

    return decorate


def _change(request, form_class, change, success) -> None:
    """Validate the POST with `form_class` (None: nothing to validate), make the `change` (one
    service call on the cleaned data) and say how it went: the form's first error, the
    service's refusal, or `success(result, data)`."""
    form = form_class(request.POST) if form_class else None
    if form is not None and not form.is_valid():
        messages.error(request, next(iter(form.errors.values()))[0])
        return
    data = form.cleaned_data if form is not None else {}
    try:
        result = change(data)
    except ProjectError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success(result, data))


def _now_a(membership) -> str:
    return f"{membership.user.get_username()} is now a {membership.get_role_display().lower()}."


@_owners_only("only the project's owners may manage its members")
def project_member_add(request, project):
    _change(
        request, MemberAddForm,
        lambda data: services.project_member_add(project=project, actor=request.user, **data),
        lambda membership, data: _now_a(membership),
    )  # fmt: skip


@_owners_only("only the project's owners may manage its members")
def project_member_change(request, project, username):
    _change(
        request, MemberRoleForm,
        lambda data: services.project_member_change_role(project=project, actor=request.user, username=username, role=data["role"]),
        lambda membership, data: _now_a(membership),
    )  # fmt: skip


@_owners_only("only the project's owners may manage its members")
def project_member_remove(request, project, username):
    _change(
        request, None,
        lambda data: services.project_member_remove(project=project, actor=request.user, username=username),
        lambda result, data: f"{username} no longer has access to {project.name}.",
    )  # fmt: skip


@_owners_only("only the project's owners may change its token")
def project_github_token(request, project):
    def token_of(data):
        return None if data["remove"] else data["token"]

    _change(
        request, GithubTokenForm,
        lambda data: services.project_github_token_set(project=project, token=token_of(data)),
        lambda result, data: "Repository token saved." if token_of(data) else "Repository token removed.",
    )  # fmt: skip
