"""Writes to branches and their runs, as the doors ask for them: link a repository, trigger,
re-embed and cancel a sync, schedule, remove a branch, delete and purge a project. The run's own
status moves live in syncs.runs; the pipeline that runs a sync in syncs.pipeline."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from embeddings.manifest import manifest_delete
from nyxsync import tenancy
from nyxsync.errors import DomainError
from projects.models import Project, WebhookDelivery
from projects.permissions import can_sync
from projects.services import ProjectError, ProjectForbidden, github_token_validate, project_create
from repositories.github import repository_access
from repositories.input import normalize_repository, validate_branch
from repositories.tokens import repository_token, url_host, user_github_token
from syncs import events
from syncs.locks import project_sync_lock, project_sync_lock_is_held
from syncs.models import ProjectSync, SyncRun
from syncs.runs import project_refresh_status, sync_runs_mark_lost

logger = logging.getLogger(__name__)


def sync_run_enqueue(
    *,
    project_sync: ProjectSync,
    trigger: str,
    requested_by=None,
    dispatch: bool = True,
    embedding_model: str | None = None,
) -> tuple[SyncRun, bool]:
    """Trigger a sync. While a run waits, triggers coalesce into it (it will fetch the newest
    commit when it starts): at most one run waits behind the running one. Returns (run, created).
    `embedding_model` (a model change, see project_sync_reembed) makes the run build vectors of
    that model and make it live; a waiting run takes it over. `dispatch=False` leaves the run to
    the caller (the `sync --inline` command runs it itself)."""
    waiting = SyncRun.objects.filter(project_sync=project_sync, status=SyncRun.Status.QUEUED).first()
    if waiting is not None:
        if embedding_model and SyncRun.objects.filter(pk=waiting.pk, status=SyncRun.Status.QUEUED).update(
            embedding_model=embedding_model, trigger=SyncRun.Trigger.REEMBED
        ):
            waiting.refresh_from_db()
        return waiting, False
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                project_sync=project_sync,
                trigger=SyncRun.Trigger.REEMBED if embedding_model else trigger,
                requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
                # Other runs take the branch's model when they start (a model change may land first).
                embedding_model=embedding_model or project_sync.embedding_model,
                heartbeat_at=timezone.now(),
            )
            project_refresh_status(project_sync.project)
            events.publish_run(run)
            if dispatch:
                transaction.on_commit(lambda: _send_task(run))
    except IntegrityError:
        # A concurrent trigger created the waiting run first (one queued run per branch).
        return SyncRun.objects.get(project_sync=project_sync, status=SyncRun.Status.QUEUED), False
    logger.info("sync.run.queued", extra={"run_id": str(run.uuid), "trigger": trigger})
    return run, True


class UnknownModel(DomainError):
    """A model change to a model nyxsync does not know (or cannot build): nothing was queued."""

    code = "unknown_model"


def project_sync_reembed(*, project_sync: ProjectSync, model_name: str, requested_by=None, dispatch: bool = True) -> tuple[SyncRun, bool]:
    """Change the branch's embedding model without downtime: a run builds the new model's
    vectors beside the old ones (reusing any that exist), search keeps the old model until one
    swap makes the new one live. Cancel or crash: the old model stays live.
    Raises UnknownModel for a model nyxsync does not know."""
    from embeddings.backends import EmbeddingError, get_backend

    try:
        get_backend(model_name).describe()  # an unknown model fails here, changing nothing
    except EmbeddingError as exc:
        raise UnknownModel(str(exc)) from exc
    return sync_run_enqueue(
        project_sync=project_sync, trigger=SyncRun.Trigger.REEMBED, requested_by=requested_by,
        dispatch=dispatch, embedding_model=model_name,
    )


def _send_task(run: SyncRun) -> None:
    # Celery is imported by the processes that send tasks, not by every command (about 0.1 s).
    from nyxsync.celery import app as celery_app

    # By the task's stable name: the task (syncs.tasks, a door) calls back into this layer.
    result = celery_app.send_task("syncs.run_sync", args=[run.pk])
    SyncRun.objects.filter(pk=run.pk).update(task_id=result.id)


@dataclass(frozen=True)
class Cancel:
    """What a cancel did, for every door to say in its own words."""

    CANCELLED = "cancelled"  # it was waiting: cancelled now
    REQUESTED = "requested"  # it is running: it stops at its next checkpoint, keeping the live snapshot
    FINISHED = "finished"  # it had ended already: nothing changed

    run: SyncRun
    outcome: str


def sync_run_cancel(run: SyncRun) -> Cancel:
    """Cancel a run: a waiting one at once; a running one stops at its next checkpoint and
    leaves the live snapshot as it was. Finished runs are left unchanged."""
    with transaction.atomic():
        if SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.CANCELLED, finished_at=timezone.now(), cancel_requested_at=timezone.now()
        ):
            run.refresh_from_db()
            project_refresh_status(run.project_sync.project)
            events.publish_run(run)
        else:
            SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING, cancel_requested_at__isnull=True).update(
                cancel_requested_at=timezone.now()
            )
            run.refresh_from_db()
    logger.info("sync.run.cancel_requested", extra={"run_id": str(run.uuid), "status": run.status})
    if run.status == SyncRun.Status.CANCELLED:
        return Cancel(run, Cancel.CANCELLED)
    return Cancel(run, Cancel.REQUESTED if run.is_active else Cancel.FINISHED)


def sync_runs_sweep(*, lost_after_seconds: int = 120, redispatch_after_seconds: int = 600) -> dict[str, int]:
    """Periodic repair (Celery beat): fail running runs whose worker is gone (no heartbeat and
    nobody holds the branch's lock), and send again the task of runs that waited too long (a
    broker that lost its queue). Both are safe to repeat: the task ignores runs not queued."""
    now = timezone.now()
    lost = 0
    stale = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=lost_after_seconds))
    for project_sync in ProjectSync.objects.filter(runs__in=stale).distinct().select_related("project"):
        if not project_sync_lock_is_held(project_sync.pk):
            lost += sync_runs_mark_lost(project_sync)
    waiting = SyncRun.objects.filter(status=SyncRun.Status.QUEUED, heartbeat_at__lt=now - timedelta(seconds=redispatch_after_seconds))
    redispatched = 0
    for run in waiting:
        if SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED, heartbeat_at=run.heartbeat_at).update(heartbeat_at=now):
            _send_task(run)
            redispatched += 1
    return {"lost": lost, "redispatched": redispatched}


# --- link, branches, auto-sync settings, removal and purge ---------------------------------------


class SyncConflict(DomainError):
    """The branch or project is busy (a run is active or holds its lock); try again later."""

    code = "conflict"
    http_status = 409


MAX_AUTO_SYNC_INTERVAL_MINUTES = 7 * 24 * 60


def _check_github_access(*, owner, repo, project=None, token: str | None = None) -> None:
    """A GitHub repository is linked only if GitHub lets the linker read it: with `token` (given
    with the link), else the project's token or the owner's GitHub connection (bound to their
    hosts), else anonymously, which passes only public repositories. Raises
    repositories.github.GithubAccessError (an InvalidInput) in one line; other hosts pass here
    (their fetch decides)."""
    if not repo.github_full_name:
        return
    if not token:
        host = url_host(repo.url)
        token = repository_token(project=project, url=repo.url) if project else user_github_token(owner.pk, host=host)
    repository_access(repo.github_full_name, token=token)


def project_link(
    *, owner, repository: str, branch: str, name: str | None = None, github_token: str | None = None, new: bool = False, by=None
) -> ProjectSync:
    """Link `repository`'s branch `branch` to the owner's project `name` (default: the
    repository's name): the one way in for the API, the link page, `manage.py sync` and the tests.
    The project is created if the owner has none of that name (with `new`, one of that name is an
    error instead), born with its webhook secret (project.webhook_secret, which the API shows
    once) and `github_token`, its repository token (which may be what lets the owner read the
    repository). `by`, who links (default: the owner), must be the owner to create a project and
    may otherwise sync it. All is checked before anything is written, and written in one
    transaction: on error (InvalidInput, ProjectError, ProjectForbidden) nothing changes."""
    repo = normalize_repository(repository)
    branch = validate_branch(branch)
    github_token_validate(github_token)
    name = name or repo.display.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    existing = Project.objects.filter(owner=owner, name=name, deleted_at__isnull=True).first()
    if existing is not None and new:
        raise ProjectError(f"you already have a project named {name!r}")
    _check_may_link(by or owner, owner=owner, project=existing)
    _check_github_access(owner=owner, repo=repo, project=existing, token=github_token)  # asks GitHub: outside the transaction
    with transaction.atomic():
        project = Project.objects.filter(owner=owner, name=name, deleted_at__isnull=True).first()
        if project is None:
            project = project_create(owner=owner, name=name, repository=repo.display, github_token=github_token)
        elif new:
            raise ProjectError(f"you already have a project named {name!r}")
        project_sync = ProjectSync.objects.filter(project=project, branch=branch).first()
        linked_url = project_sync.repository_url if project_sync else getattr(project.syncs.first(), "repository_url", repo.url)
        if linked_url != repo.url:
            raise ProjectError(f"project {name!r} is linked to {project.repository}, not {repo.display}")
        if project_sync is None:
            project_sync = ProjectSync.objects.create(project=project, repository_url=repo.url, branch=branch)
            logger.info("project.linked", extra={"project_id": str(project.uuid), "project_sync_id": str(project_sync.uuid)})
    return project_sync


def _check_may_link(by, *, owner, project: Project | None) -> None:
    # Before anything is written: a refused link leaves no project or branch behind.
    if project is not None:
        if not can_sync(by, project):
            raise ProjectForbidden(f"{by.get_username()} may not sync project {project.name!r}")
    elif by.pk != owner.pk and not by.is_superuser:
        raise ProjectForbidden(f"{by.get_username()} may not sync {owner.get_username()}'s projects")


def project_sync_add(
    *, project: Project, branch: str, auto_sync: bool = False, auto_sync_interval_minutes: int | None = None
) -> ProjectSync:
    """Sync one more branch of the project's repository."""
    branch = validate_branch(branch)
    _check_schedule(auto_sync, auto_sync_interval_minutes)
    existing = project.syncs.first()
    repository_url = existing.repository_url if existing else normalize_repository(project.repository).url
    try:
        with transaction.atomic():
            project_sync = ProjectSync.objects.create(
                project=project,
                repository_url=repository_url,
                branch=branch,
                auto_sync=auto_sync,
                auto_sync_interval_minutes=auto_sync_interval_minutes,
            )
    except IntegrityError as exc:
        raise ProjectError(f"branch {branch!r} is already synced") from exc
    logger.info("project_sync.added", extra={"project_sync_id": str(project_sync.uuid)})
    return project_sync


def project_sync_update_schedule(
    *, project_sync: ProjectSync, auto_sync: bool, auto_sync_interval_minutes: int | None
) -> ProjectSync:
    """Turn scheduled syncs of a branch on or off. Turning them on (or changing the interval)
    makes the branch due at once, so the first check does not wait a whole interval."""
    _check_schedule(auto_sync, auto_sync_interval_minutes)
    changes = {"auto_sync": auto_sync, "auto_sync_interval_minutes": auto_sync_interval_minutes, "updated_at": timezone.now()}
    if auto_sync and (
        not project_sync.auto_sync or project_sync.auto_sync_interval_minutes != auto_sync_interval_minutes
    ):
        changes["next_check_at"] = None
    ProjectSync.objects.filter(pk=project_sync.pk).update(**changes)
    project_sync.refresh_from_db()
    logger.info("project_sync.schedule_changed", extra={"project_sync_id": str(project_sync.uuid), "auto_sync": auto_sync})
    return project_sync


def project_sync_schedule_check(*, auto_sync: bool, auto_sync_interval_minutes: int | None) -> None:
    """Raises ProjectError for a schedule project_sync_add and project_sync_update_schedule would
    refuse: for forms that show the error before they save (the admin)."""
    _check_schedule(auto_sync, auto_sync_interval_minutes)


def _check_schedule(auto_sync: bool, interval: int | None) -> None:
    if interval is not None and not 1 <= interval <= MAX_AUTO_SYNC_INTERVAL_MINUTES:
        raise ProjectError(f"auto_sync_interval_minutes must be between 1 and {MAX_AUTO_SYNC_INTERVAL_MINUTES}")
    if auto_sync and interval is None:
        raise ProjectError("auto_sync needs auto_sync_interval_minutes")


def project_sync_remove(*, project_sync: ProjectSync) -> None:
    """Stop syncing a branch and delete its manifest, chunks and run history (vectors are shared
    by content hash and stay). Refused with SyncConflict while one of its runs is active."""
    _delete_project_syncs([project_sync])
    logger.info("project_sync.removed", extra={"project_sync_id": str(project_sync.uuid)})


def project_soft_delete(*, project: Project) -> bool:
    """Hide the project from every door and stop its work; its manifest, chunks and vectors stay
    until project_purge. Returns False if it was already deleted."""
    now = timezone.now()
    if not Project.objects.filter(pk=project.pk, deleted_at__isnull=True).update(deleted_at=now, updated_at=now):
        return False
    project.deleted_at = now
    # Waiting runs end now; a running one stops at its next checkpoint, keeping the live snapshot.
    for run in SyncRun.objects.filter(project_sync__project=project, status__in=SyncRun.ACTIVE_STATUSES):
        sync_run_cancel(run)
    logger.info("project.deleted", extra={"project_id": str(project.uuid)})
    return True


def project_purge(*, project: Project) -> None:
    """Delete a soft-deleted project for good: its branches' manifests, chunks, runs, webhook
    deliveries and the project row. Vectors are shared by content hash with other branches and
    projects (a running sync may be about to reference one), so they stay; collecting vectors no
    chunk references is a separate, global job. Refused with SyncConflict while a run is active."""
    if project.deleted_at is None:
        raise ProjectError("only a deleted project can be purged")
    _delete_project_syncs(list(ProjectSync.objects.filter(project=project)))
    # Acting for the project itself: Django deletes its memberships first, and an owner who is a
    # member (not the creator) would then no longer see the row (row-level security) and delete
    # nothing. The doors have checked who may purge.
    with transaction.atomic(), tenancy.acting_for_project(project.pk):
        WebhookDelivery.objects.filter(project=project).delete()
        Project.objects.filter(pk=project.pk).delete()
    logger.info("project.purged", extra={"project_id": str(project.uuid)})


def _delete_project_syncs(project_syncs: list[ProjectSync]) -> None:
    from contextlib import ExitStack

    with ExitStack() as locks:
        # Each branch's run lock, in id order: no worker can start (or be running) a run of
        # these branches while their rows go.
        for project_sync in sorted(project_syncs, key=lambda project_sync: project_sync.pk):
            if not locks.enter_context(project_sync_lock(project_sync.pk)):
                raise SyncConflict(f"branch {project_sync.branch!r} is being synced; cancel the run or try again later")
        for project_sync in project_syncs:
            sync_runs_mark_lost(project_sync)  # we hold the lock: a run still marked running lost its worker
        ids = [project_sync.pk for project_sync in project_syncs]
        with transaction.atomic():
            # Waiting runs go with their branch: a task that arrives later finds no run and stops.
            manifest_delete(ids)
            SyncRun.objects.filter(project_sync_id__in=ids).delete()
            ProjectSync.objects.filter(pk__in=ids).delete()
            projects = {project_sync.project for project_sync in project_syncs}
            for project in projects:
                if Project.objects.filter(pk=project.pk).exists():
                    project_refresh_status(project)
