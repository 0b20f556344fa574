"""Reads of branches and runs, always through a project the caller already got from
projects.selectors (the one tenancy gate)."""

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from nyxsync.uuids import parse_uuid
from projects.selectors import projects_for_user
from syncs.models import ProjectSync, SyncRun


def project_sync_list(*, projects, branch: str | None = None, ordering: str | None = None):
    """The branches of `projects` (which the caller got from projects.selectors), by project
    name then branch (or by `ordering`, then id); only those named `branch` if given."""
    project_syncs = ProjectSync.objects.filter(project__in=projects).select_related("project")
    if branch is not None:
        project_syncs = project_syncs.filter(branch=branch)
    return project_syncs.order_by(ordering, "pk") if ordering else project_syncs.order_by("project__name", "branch")


def project_sync_get(*, project, uuid) -> ProjectSync | None:
    """A branch of `project` (which the caller got from projects.selectors); None if not its own."""
    if (uuid := parse_uuid(uuid)) is None:
        return None
    return ProjectSync.objects.select_related("project").filter(project=project, uuid=uuid).first()


def project_sync_get_for_user(user, *, uuid) -> ProjectSync | None:
    """A branch of a project the user may see; None for missing and foreign alike."""
    if (uuid := parse_uuid(uuid)) is None:
        return None
    return ProjectSync.objects.select_related("project").filter(uuid=uuid, project__in=projects_for_user(user)).first()


def project_syncs_to_search(user, *, project_uuid=None, branch: str | None = None) -> list[ProjectSync] | None:
    """The branches a search by `user` covers: those of the project `project_uuid` (None if the
    user may not see it), else of every project they may see; only those named `branch` if given.
    One query (a search's first round trip); a second only when no branch matched, to tell a
    project without such a branch from one the user may not see."""
    if project_uuid is None:
        return list(project_sync_list(projects=projects_for_user(user), branch=branch))
    if (uuid := parse_uuid(project_uuid)) is None:
        return None
    projects = projects_for_user(user).filter(uuid=uuid)
    found = list(project_sync_list(projects=projects, branch=branch))
    return found if found or projects.exists() else None


def sync_run_list(
    *,
    project,
    limit: int | None = 50,
    project_sync_uuid=None,
    branch: str | None = None,
    status: str | None = None,
    trigger: str | None = None,
    ordering: str = "-created_at",
):
    """Runs of the branches of `project` (which the caller got from projects.selectors), newest
    first (or by `ordering`), at most `limit`; only those of one branch (by uuid or name), status
    or trigger if given."""
    runs = SyncRun.objects.filter(project_sync__project=project).select_related("project_sync__project")
    filters = {"project_sync__uuid": project_sync_uuid, "project_sync__branch": branch, "status": status, "trigger": trigger}
    runs = runs.filter(**{lookup: value for lookup, value in filters.items() if value is not None})
    runs = runs.order_by(ordering, "-pk")
    return runs[:limit] if limit else runs


def sync_run_get(*, project, uuid) -> SyncRun | None:
    """A run of a branch of `project` (which the caller got from projects.selectors); None if not its own."""
    if (uuid := parse_uuid(uuid)) is None:
        return None
    return SyncRun.objects.select_related("project_sync__project").filter(project_sync__project=project, uuid=uuid).first()


def sync_run_get_for_user(user, *, uuid) -> SyncRun | None:
    """A run of a project the user may see; None for missing and foreign alike."""
    if (uuid := parse_uuid(uuid)) is None:
        return None
    return (
        SyncRun.objects.select_related("project_sync__project")
        .filter(uuid=uuid, project_sync__project__in=projects_for_user(user))
        .first()
    )


def sync_runs_current(project_syncs) -> dict[int, SyncRun]:
    """ProjectSync id -> the run its live panel follows: the running one, else the waiting one,
    else the latest. One query (DISTINCT ON) for any number of branches."""
    priority = Case(
        When(status=SyncRun.Status.RUNNING, then=Value(0)),
        When(status=SyncRun.Status.QUEUED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    runs = (
        SyncRun.objects.filter(project_sync__in=[project_sync.pk for project_sync in project_syncs])
        .annotate(panel_priority=priority)
        .select_related("project_sync__project")
        .order_by("project_sync_id", "panel_priority", "-created_at")
        .distinct("project_sync_id")
    )
    return {run.project_sync_id: run for run in runs}


def eta_seconds_estimate(run: SyncRun, *, now=None) -> float | None:
    """The run's remaining seconds in its current phase, for readers away from the worker (the
    MCP door): the same rate as syncs.progress reports, from the stored counters. The phase began about
    `started_at` plus the seconds of the phases before it (stored with each report)."""
    if run.status != SyncRun.Status.RUNNING or not run.started_at or not run.progress_total or not run.progress_done:
        return None
    now = now or timezone.now()
    elapsed = (now - run.started_at).total_seconds() - sum(run.phase_seconds.values())
    if elapsed <= 0:
        return None
    rate = run.progress_done / elapsed
    return max(run.progress_total - run.progress_done, 0) / rate
