"""Live progress events: what pages and the admin receive over Server-Sent Events.

One payload shape (RunEvent), built from a SyncRun in one place, published on the project's
channel and on the operators' channel. Events carry counters and ids only: never file contents,
URLs with credentials, tokens or secrets."""

from __future__ import annotations

import functools
import json
import logging
from datetime import timedelta
from typing import TypedDict

from django.db import connection, transaction
from django.utils import timezone

from nyxsync import embedded
from nyxsync.db import commit_without_waiting_for_disk

logger = logging.getLogger(__name__)

EVENT_TYPE = "run"
OPERATORS_CHANNEL = "operators"
# How long a reconnecting page can replay what it missed (django-eventstream's EVENT_TIMEOUT).
STORED_EVENTS_KEPT = timedelta(hours=24)


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


def current_event_id(channels: list[str]) -> str:
    """The stream position of `channels` now: a page renders it before its state, so its stream
    resumes right after what it shows (django-eventstream's get_current_event_id, imported here:
    a process that never renders a page does not run that package's body)."""
    from django_eventstream import get_current_event_id

    return get_current_event_id(channels)


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
    try:
        # Live streams listen on Redis: an embedded one is started by its first user (`sync --inline`
        # may be the first); against a Redis that is down, each event would wait out the client's retries.
        embedded.ensure_configured("redis")
        data = json.dumps(event)
        with commit_without_waiting_for_disk():  # a live event: the run's row is what lasts
            stored = _store(sorted((project_channel(event["project"]), OPERATORS_CHANNEL)), data)
        with _redis().pipeline(transaction=False) as pipe:
            for channel, event_id in stored:
                message = {"channel": channel, "event_type": EVENT_TYPE, "data": data, "pub_id": str(event_id)}
                pipe.publish("events_channel", json.dumps(message))
            pipe.execute()
        if event["finished"]:
            _trim_stored_events()
    except Exception:
        logger.warning("sync.event.not_sent", extra={"run_id": event["run"], "phase": event["phase"]}, exc_info=True)


# django-eventstream's send_event with our settings (DjangoModelStorage, the Redis fan-out, no GRIP
# proxy) stores each event in its tables and publishes it on Redis; _send does the same in its
# format, so the library's views replay and stream these events unchanged. Not send_event itself:
# importing it costs a process that only sends events django_grip, werkzeug, gripcontrol, requests
# and jwt (about 0.2 s), and its storage takes a dozen round trips and two commits per event (a
# counter row read, locked, bumped; the event; a trim query) where this takes one statement for
# both channels: 17-27 ms against 100-190 ms an event at load 9-10, 2-3 ms of CPU against 17-19.
# Each channel's counter row is locked in name order, so two senders never wait on each other in
# a circle. A channel's first event also stores django-eventstream's placeholder of id 0, from
# which a page that has seen nothing yet replays.
_STORE_SQL = """
WITH counters AS (
    INSERT INTO {counters} AS counter (name, value, updated)
    SELECT name, 1, now() FROM unnest(%(channels)s::text[]) AS name
    ON CONFLICT (name) DO UPDATE SET value = counter.value + 1, updated = now()
    RETURNING name, value
), placeholder AS (
    INSERT INTO {events} (channel, type, data, eid, created) SELECT name, '', '', 0, now() FROM counters WHERE value = 1
)
INSERT INTO {events} (channel, type, data, eid, created) SELECT name, %(type)s, %(data)s, value, now() FROM counters
RETURNING channel, eid
"""


def _store(channels: list[str], data: str) -> list[tuple[str, int]]:
    from django_eventstream.models import Event, EventCounter

    sql = _STORE_SQL.format(counters=EventCounter._meta.db_table, events=Event._meta.db_table)
    with connection.cursor() as cursor:
        # The storage keeps the JSON text JSON-encoded once more, as DjangoModelStorage does.
        cursor.execute(sql, {"channels": channels, "type": EVENT_TYPE, "data": json.dumps(data)})
        return cursor.fetchall()


@functools.cache
def _redis():
    import redis
    from django.conf import settings

    return redis.Redis(**settings.EVENTSTREAM_REDIS)


def _trim_stored_events() -> None:
    """Forget stored events past the replay window, as DjangoModelStorage does on every event (one
    query per event, deleting row by row); here once per finished run, in one statement."""
    from django_eventstream.models import Event

    Event.objects.filter(created__lt=timezone.now() - STORED_EVENTS_KEPT).delete()
