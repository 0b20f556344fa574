"""The run state machine: every change of a run's status (queued -> running -> a final status),
its progress and heartbeat, and the project's sync status derived from its runs. Each change is
a compare-and-set on the old status and publishes the run's event once committed. The pipeline
(syncs.pipeline) drives a run through these; triggers and cancel are in syncs.services."""

from __future__ import annotations

import json
import logging

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from projects.models import Project
from syncs import events
from syncs.models import ProjectSync, SyncRun

logger = logging.getLogger(__name__)


def project_refresh_status(project: Project) -> None:
    """Derive the project's status from its branches' runs (shown in lists without a join)."""
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


def sync_run_start(run: SyncRun) -> bool:
    """queued -> running, in its first phase (fetch): one write and one event say both. False
    when the run is no longer queued (cancelled meanwhile)."""
    now = timezone.now()
    with transaction.atomic():
        changed = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.FETCH, started_at=now, heartbeat_at=now
        )
        if not changed:
            return False
        run.refresh_from_db()
        project_refresh_status(run.project_sync.project)
        events.publish_run(run)
    logger.info("sync.run.started", extra={"run_id": str(run.uuid)})
    return True


def sync_run_finish(run: SyncRun, *, status: str, error: str = "", error_phase: str = "") -> None:
    """running -> a final status, with the run's counters as they are on `run`."""
    finished = {SyncRun.Status.SUCCEEDED, SyncRun.Status.UP_TO_DATE, SyncRun.Status.FAILED, SyncRun.Status.CANCELLED}
    assert status in finished, status
    with transaction.atomic():
        _finish(run, status=status, error=error, error_phase=error_phase)
    logger.info("sync.run.finished", extra={"run_id": str(run.uuid), "status": status, "error_phase": error_phase})


def _finish(run: SyncRun, *, status: str, error: str = "", error_phase: str = "") -> None:
    run.status, run.error, run.error_phase = status, error[:4000], error_phase
    run.finished_at = timezone.now()
    run.phase = SyncRun.Phase.DONE if status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.UP_TO_DATE) else run.phase
    fields = [
        "status", "phase", "error", "error_phase", "finished_at", "commit_before", "commit_after", "files_seen",
        "files_changed", "files_deleted", "files_skipped", "skipped_by_reason", "chunks_embedded", "chunks_reused",
        "chunks_deleted", "phase_seconds", "progress_done", "progress_total",
    ]
    changed = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(**{name: getattr(run, name) for name in fields})
    if not changed:
        raise RuntimeError(f"run {run.uuid} was not running when it finished")
    project_refresh_status(run.project_sync.project)
    events.publish_run(run)


def sync_run_swap(run: SyncRun, *, generation: int, commit: str, chunk_delta: int) -> None:
    """Make the staged generation live and finish the run as succeeded, in one short
    transaction: readers see the previous snapshot until it commits and the new one after.
    `chunk_delta`: chunks the new snapshot has more than the old one."""
    project_sync = run.project_sync
    with transaction.atomic():
        changed = ProjectSync.objects.filter(pk=project_sync.pk, live_generation=generation - 1).update(
            live_generation=generation,
            live_chunk_count=Greatest(F("live_chunk_count") + chunk_delta, 0),
            live_commit=commit,
            embedding_model=run.embedding_model,
            last_synced_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if not changed:
            raise RuntimeError(f"branch {project_sync} moved past generation {generation - 1} during the run")
        project_sync.refresh_from_db()
        _finish(run, status=SyncRun.Status.SUCCEEDED)


def sync_runs_mark_lost(project_sync: ProjectSync, *, except_run: SyncRun | None = None) -> int:
    """Runs still marked running while nobody holds the branch's lock lost their worker: mark
    them failed. Called by the next run (which holds the lock) and by the sweeper."""
    lost = SyncRun.objects.filter(project_sync=project_sync, status=SyncRun.Status.RUNNING)
    if except_run is not None:
        lost = lost.exclude(pk=except_run.pk)
    count = 0
    for run in lost.select_related("project_sync__project"):
        with transaction.atomic():
            _finish(
                run,
                status=SyncRun.Status.FAILED,
                error="the worker running this sync stopped unexpectedly; the live snapshot was kept",
                error_phase=run.phase,
            )
        logger.warning("sync.run.lost", extra={"run_id": str(run.uuid), "phase": run.phase})
        count += 1
    return count


def sync_run_record_progress(run: SyncRun) -> bool:
    """Store the run's phase and progress with a heartbeat; returns whether a cancel was
    requested meanwhile (one round trip for both)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE syncs_syncrun SET phase = %s, progress_done = %s, progress_total = %s, phase_seconds = %s, "
            "heartbeat_at = now() WHERE id = %s RETURNING cancel_requested_at IS NOT NULL",
            [run.phase, run.progress_done, run.progress_total, json.dumps(run.phase_seconds), run.pk],
        )
        row = cursor.fetchone()
    return bool(row and row[0])
