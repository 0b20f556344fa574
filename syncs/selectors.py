"""Reads of branches and runs, always through a project the caller already got from
projects.selectors (the one tenancy gate)."""

import uuid as uuid_module

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
