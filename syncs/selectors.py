"""Reads of branches and runs, always through a project the caller already got from
projects.selectors (the one tenancy gate)."""

import uuid as uuid_module

from django.utils import timezone

from projects.selectors import projects_for_user
from syncs.models import ProjectSync, SyncRun


def project_syncs_of(project):
    return ProjectSync.objects.filter(project=project).select_related("project").order_by("branch")


def sync_runs_of(project, *, limit: int | None = 50):
    runs = SyncRun.objects.filter(project_sync__project=project).select_related("project_sync__project").order_by("-created_at")
    return runs[:limit] if limit else runs


def project_sync_get_for_user(user, uuid) -> ProjectSync | None:
    """A branch of a project the user may see; None for missing and foreign alike."""
    try:
        uuid = uuid_module.UUID(str(uuid))
    except ValueError:
        return None
    return ProjectSync.objects.select_related("project").filter(uuid=uuid, project__in=projects_for_user(user)).first()


def sync_run_get_for_user(user, uuid) -> SyncRun | None:
    try:
        uuid = uuid_module.UUID(str(uuid))
    except ValueError:
        return None
    return (
        SyncRun.objects.select_related("project_sync__project")
        .filter(uuid=uuid, project_sync__project__in=projects_for_user(user))
        .first()
    )


def sync_runs_current(project_syncs) -> dict[int, SyncRun]:
    """ProjectSync id -> the run its live panel follows: the running one, else the waiting one,
    else the latest. One query (DISTINCT ON) for any number of branches."""
    from django.db.models import Case, IntegerField, Value, When

    priority = Case(
        When(status=SyncRun.Status.RUNNING, then=Value(0)),
        When(status=SyncRun.Status.QUEUED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    runs = (
        SyncRun.objects.filter(project_sync__in=[sync.pk for sync in project_syncs])
        .annotate(panel_priority=priority)
        .select_related("project_sync__project")
        .order_by("project_sync_id", "panel_priority", "-created_at")
        .distinct("project_sync_id")
    )
    return {run.project_sync_id: run for run in runs}


def project_syncs_of_projects(projects):
    """The branches of projects the caller already got from projects.selectors (the list page)."""
    return ProjectSync.objects.filter(project__in=projects).select_related("project").order_by("project__name", "branch")



# --- API and integrations (issue 5): a branch or run inside a project already gated -----------


def project_sync_of(project, uuid) -> ProjectSync | None:
    """A branch of `project` (which the caller got from projects.selectors); None if not its own."""
    try:
        uuid = uuid_module.UUID(str(uuid))
    except ValueError:
        return None
    return ProjectSync.objects.select_related("project").filter(project=project, uuid=uuid).first()


def sync_run_of(project, uuid) -> SyncRun | None:
    try:
        uuid = uuid_module.UUID(str(uuid))
    except ValueError:
        return None
    return SyncRun.objects.select_related("project_sync__project").filter(project_sync__project=project, uuid=uuid).first()


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
