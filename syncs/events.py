"""Live progress events: what pages and the admin receive over Server-Sent Events.

One payload shape (RunEvent), built from a SyncRun in one place, published on the project's
channel and on the operators' channel. Events carry counters and ids only: never file contents,
URLs with credentials, tokens or secrets."""

from __future__ import annotations

import logging
from typing import TypedDict

from django.db import transaction

from nyxsync import embedded

logger = logging.getLogger(__name__)

EVENT_TYPE = "run"
OPERATORS_CHANNEL = "operators"


def project_channel(project_uuid) -> str:
    return f"project-{project_uuid}"


class RunEvent(TypedDict):
    run: str
    project: str
    sync: str
    branch: str
    trigger: str
    status: str
    phase: str
    finished: bool
    done: int
    total: int
    percent: float | None
    rate: float | None
    eta_seconds: float | None
    commit: str
    files_seen: int
    files_changed: int
    files_deleted: int
    files_skipped: int
    skipped_by_reason: dict[str, int]
    chunks_embedded: int
    chunks_reused: int
    chunks_deleted: int
    error: str
    error_phase: str


def run_event(run, *, rate: float | None = None, eta_seconds: float | None = None) -> RunEvent:
    project_sync = run.project_sync
    total, done = run.progress_total, run.progress_done
    return RunEvent(
        run=str(run.uuid),
        project=str(project_sync.project.uuid),
        sync=str(project_sync.uuid),
        branch=project_sync.branch,
        trigger=run.trigger,
        status=run.status,
        phase=run.phase,
        finished=not run.is_active,
        done=done,
        total=total,
        percent=round(100.0 * done / total, 1) if total else None,
        rate=round(rate, 2) if rate else None,
        eta_seconds=round(eta_seconds, 1) if eta_seconds is not None else None,
        commit=run.commit_after,
        files_seen=run.files_seen,
        files_changed=run.files_changed,
        files_deleted=run.files_deleted,
        files_skipped=run.files_skipped,
        skipped_by_reason=dict(run.skipped_by_reason),
        chunks_embedded=run.chunks_embedded,
        chunks_reused=run.chunks_reused,
        chunks_deleted=run.chunks_deleted,
        error=run.error,
        error_phase=run.error_phase,
    )


def publish_run(run, *, rate: float | None = None, eta_seconds: float | None = None) -> None:
    """Publish the run's state, after the current transaction commits (so no page ever sees a
    state the database then rolls back). A failure to publish never fails the sync."""
    event = run_event(run, rate=rate, eta_seconds=eta_seconds)
    transaction.on_commit(lambda: _send(event))


def _send(event: RunEvent) -> None:
    from django_eventstream import send_event

    try:
        # Live streams listen on Redis: an embedded one is started by its first user (`sync --inline`
        # may be the first); against a Redis that is down, each event would wait out the client's retries.
        embedded.ensure_configured("redis")
        for channel in (project_channel(event["project"]), OPERATORS_CHANNEL):
            send_event(channel, EVENT_TYPE, event)
    except Exception:
        logger.warning("sync.event.not_sent", extra={"run_id": event["run"], "phase": event["phase"]}, exc_info=True)
