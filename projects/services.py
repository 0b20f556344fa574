"""Writes to projects."""

from django.db import IntegrityError, transaction

from projects.models import Project


class ProjectError(ValueError):
    """A request about a project that cannot be done; the message says why."""


def project_create(*, owner, name: str, repository: str) -> Project:
    name = name.strip()
    if not name or len(name) > 100:
        raise ProjectError("a project name has 1 to 100 characters")
    try:
        with transaction.atomic():
            return Project.objects.create(owner=owner, name=name, repository=repository)
    except IntegrityError as exc:
        raise ProjectError(f"you already have a project named {name!r}") from exc


def project_refresh_status(project: Project) -> None:
    """Derive the project's status from its branches' runs (shown in lists without a join)."""
    from syncs.models import SyncRun

    runs = SyncRun.objects.filter(project_sync__project=project)
    if runs.filter(status=SyncRun.Status.RUNNING).exists():
        status = Project.SyncStatus.SYNCING
    elif runs.filter(status=SyncRun.Status.QUEUED).exists():
        status = Project.SyncStatus.QUEUED
    else:
        latest = runs.exclude(status=SyncRun.Status.CANCELLED).order_by("project_sync_id", "-created_at")
        latest_statuses = set(latest.distinct("project_sync_id").values_list("status", flat=True))
        if SyncRun.Status.FAILED in latest_statuses:
            status = Project.SyncStatus.FAILED
        elif project.syncs.filter(live_generation__gt=0).exists():
            status = Project.SyncStatus.SYNCED
        else:
            status = Project.SyncStatus.IDLE
    Project.objects.filter(pk=project.pk).exclude(sync_status=status).update(sync_status=status)
    project.sync_status = status
