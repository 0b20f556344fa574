"""Scheduled syncs: branches with auto_sync on are checked every `auto_sync_interval_minutes`.

A check is one `git ls-remote` of one ref (about the cost of an HTTP request, no fetch, no
database write beyond the schedule columns): a sync is queued (trigger "schedule") only when the
remote head differs from the live commit and no queued or running run will already bring it.
An idle repository costs one ls-remote per interval.

Celery beat calls `project_syncs_check_due` every minute (task syncs.check_scheduled). Each due
branch is claimed with a compare-and-set on next_check_at before it is checked, so overlapping
ticks (a slow tick, two beat processes by mistake) never check or enqueue a branch twice.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from repositories import git
from repositories.input import InvalidInput
from repositories.tokens import repository_token
from syncs.models import ProjectSync, SyncRun

logger = logging.getLogger(__name__)

BATCH = 200  # branches per tick; the rest stay due for the next tick
PARALLEL_CHECKS = 4
CHECK_TIMEOUT_SECONDS = 20


class Outcome:
    QUEUED = "queued"
    UNCHANGED = "unchanged"  # the head is the live commit
    PENDING = "pending"  # a queued or running run will bring the head
    MISSING = "missing"  # the branch is gone from the remote
    FAILED = "failed"  # the remote could not be asked; the next interval tries again


@dataclass(frozen=True)
class Check:
    project_sync_id: int
    outcome: str
    head: str | None = None


def project_syncs_check_due(*, now: datetime | None = None, limit: int = BATCH) -> list[Check]:
    """Check every branch that is due (at most `limit`) and queue the syncs that are needed."""
    now = now or timezone.now()
    claimed = [project_sync for project_sync in _due(now, limit) if _claim(project_sync, now)]
    if not claimed:
        return []
    # The remote checks are network waits: a few at a time, outside any transaction.
    with ThreadPoolExecutor(max_workers=min(PARALLEL_CHECKS, len(claimed))) as pool:
        heads = list(pool.map(_remote_head, claimed))
    checks = [_enqueue_if_moved(project_sync, head) for project_sync, head in zip(claimed, heads, strict=True)]
    logger.info(
        "schedule.checked",
        extra={"checked": len(checks), "queued": sum(check.outcome == Outcome.QUEUED for check in checks)},
    )
    return checks


def _due(now: datetime, limit: int) -> list[ProjectSync]:
    return list(
        ProjectSync.objects.filter(auto_sync=True, auto_sync_interval_minutes__isnull=False, project__deleted_at__isnull=True)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .select_related("project")
        .order_by(F("next_check_at").asc(nulls_first=True), "pk")[:limit]
    )


def _claim(project_sync: ProjectSync, now: datetime) -> bool:
    """Move the branch's next check one interval ahead, if nobody else did since we read it."""
    seen = project_sync.next_check_at
    unchanged = Q(next_check_at__isnull=True) if seen is None else Q(next_check_at=seen)
    next_check_at = now + timedelta(minutes=project_sync.auto_sync_interval_minutes)
    claimed = ProjectSync.objects.filter(unchanged, pk=project_sync.pk).update(
        last_checked_at=now, next_check_at=next_check_at
    )
    project_sync.last_checked_at, project_sync.next_check_at = now, next_check_at
    return bool(claimed)


def _remote_head(project_sync: ProjectSync) -> str | None | Exception:
    try:
        return git.remote_head(
            project_sync.repository_url,
            project_sync.branch,
            # The project was read with the branch (_due): no query from this pool thread.
            token=repository_token(project=project_sync.project, url=project_sync.repository_url),
            timeout=CHECK_TIMEOUT_SECONDS,
        )
    except (git.GitError, InvalidInput) as exc:
        return exc


def _enqueue_if_moved(project_sync: ProjectSync, head: str | None | Exception) -> Check:
    from syncs.services import sync_run_enqueue

    log = {"project_sync_id": str(project_sync.uuid)}
    if isinstance(head, Exception):
        logger.warning("schedule.check_failed", extra={**log, "error": str(head)})
        return Check(project_sync.pk, Outcome.FAILED)
    if head is None:
        logger.warning("schedule.branch_missing", extra=log)
        return Check(project_sync.pk, Outcome.MISSING)
    if head == project_sync.live_commit:
        return Check(project_sync.pk, Outcome.UNCHANGED, head)
    active = SyncRun.objects.filter(project_sync=project_sync, status__in=SyncRun.ACTIVE_STATUSES)
    # A waiting run fetches the newest head when it starts; a running one that fetched this
    # head already will make it live.
    if active.filter(Q(status=SyncRun.Status.QUEUED) | Q(commit_after=head)).exists():
        return Check(project_sync.pk, Outcome.PENDING, head)
    sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger.SCHEDULE)
    return Check(project_sync.pk, Outcome.QUEUED, head)
