"""Writes to projects."""

import logging
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from projects.models import Project

logger = logging.getLogger(__name__)


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


# --- API and integrations (issue 5): rename, soft delete, webhook secret, API tokens ------------


def project_rename(*, project: Project, name: str) -> Project:
    name = name.strip()
    if not name or len(name) > 100:
        raise ProjectError("a project name has 1 to 100 characters")
    if name == project.name:
        return project
    try:
        with transaction.atomic():
            Project.objects.filter(pk=project.pk).update(name=name, updated_at=timezone.now())
    except IntegrityError as exc:
        raise ProjectError(f"you already have a project named {name!r}") from exc
    project.refresh_from_db()
    return project


def project_soft_delete(*, project: Project) -> bool:
    """Hide the project from every door and stop its work; its manifest, chunks and vectors stay
    until `syncs.services.project_purge`. Returns False if it was already deleted."""
    from syncs.models import SyncRun
    from syncs.services import sync_run_cancel

    now = timezone.now()
    if not Project.objects.filter(pk=project.pk, deleted_at__isnull=True).update(deleted_at=now, updated_at=now):
        return False
    project.deleted_at = now
    # Waiting runs end now; a running one stops at its next checkpoint, keeping the live snapshot.
    for run in SyncRun.objects.filter(project_sync__project=project, status__in=SyncRun.ACTIVE_STATUSES):
        sync_run_cancel(run)
    logger.info("project.deleted", extra={"project_id": str(project.uuid)})
    return True


def project_webhook_secret_rotate(*, project: Project) -> str:
    """A new webhook secret for the project, returned once (the caller shows it to the owner).
    Deliveries signed with the previous secret are refused from now on."""
    secret = secrets.token_urlsafe(32)
    Project.objects.filter(pk=project.pk).update(webhook_secret=secret, updated_at=timezone.now())
    logger.info("project.webhook_secret.rotated", extra={"project_id": str(project.uuid)})
    return secret


def api_token_rotate(*, user):
    """The user's API token, replaced by a new one (the key is shown once by the caller)."""
    from rest_framework.authtoken.models import Token

    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
    logger.info("api.token.rotated", extra={"user_id": user.pk})
    return token


def api_token_revoke(*, user) -> bool:
    from rest_framework.authtoken.models import Token

    deleted, _ = Token.objects.filter(user=user).delete()
    logger.info("api.token.revoked", extra={"user_id": user.pk})
    return bool(deleted)
