"""Pages' doors to runs: trigger and cancel (POST), a run's true state (JSON) and the live streams
(Server-Sent Events). Every read goes through the tenancy gate (projects/syncs selectors), every
change asks projects.permissions first."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from projects.permissions import can_sync, can_view
from syncs import services
from syncs.events import OPERATORS_CHANNEL, current_event_id, project_channel, run_event
from syncs.models import SyncRun
from syncs.selectors import project_sync_get_for_user, sync_run_get_for_user

# django-eventstream refuses more channels than this on one stream.
MAX_STREAM_CHANNELS = 10


def json_not_found() -> JsonResponse:
    return JsonResponse({"error": "not found"}, status=404)


def wants_json(request) -> bool:
    """The page's script asks for JSON; a plain form post (no script) gets a redirect."""
    return request.accepts("application/json") and not request.accepts("text/html")


def run_result(event: dict) -> str:
    """One sentence for a finished run (live.js writes the same sentence from the same event)."""
    status, commit = event["status"], event["commit"][:12]
    if status == SyncRun.Status.SUCCEEDED:
        return (
            f"Synced {commit}: {event['files_changed']} files changed, {event['files_skipped']} skipped; "
            f"{event['chunks_embedded']} chunks embedded, {event['chunks_reused']} reused."
        )
    if status == SyncRun.Status.UP_TO_DATE:
        return f"Already up to date at {commit}."
    if status == SyncRun.Status.FAILED:
        return f"Failed during {event['error_phase'] or 'the run'}: {event['error']}"
    if status == SyncRun.Status.CANCELLED:
        return f"Cancelled during {event['error_phase']}." if event["error_phase"] else "Cancelled before it started."
    return ""


def run_status_line(event: dict, *, phase_label: str) -> str:
    """One line saying where the run is: queued, running phase X (done / total), or its result
    (live.js writes the same line from the same event)."""
    if event["finished"]:
        return run_result(event)
    if event["status"] == SyncRun.Status.QUEUED:
        return "Queued: waiting for a worker."
    counts = f", {event['done']:,} / {event['total']:,}" if event["total"] else ""
    return f"Running: phase {phase_label}{counts}."


def live_chunks_embedded(event: dict) -> int:
    """Chunks embedded so far: the embed phase's progress while it runs, the run's count after."""
    if not event["finished"] and event["phase"] == SyncRun.Phase.EMBED:
        return event["done"]
    return event["chunks_embedded"]


def run_panel(run: SyncRun | None) -> dict | None:
    """What a progress panel renders: the run's event plus its labels and result sentence."""
    if run is None:
        return None
    event = run_event(run)
    succeeded = event["status"] in (SyncRun.Status.SUCCEEDED, SyncRun.Status.UP_TO_DATE)
    return {
        **event,
        "status_label": run.get_status_display(),
        "phase_label": run.get_phase_display(),
        "trigger_label": run.get_trigger_display(),
        "progress_text": f"{event['done']} / {event['total']}" if event["total"] else "—",
        # <progress> value: none while the size of the phase is unknown (an indeterminate bar).
        "bar": (100 if succeeded else event["percent"] or 0) if event["finished"] else event["percent"],
        "result": run_result(event),
        "status_line": run_status_line(event, phase_label=run.get_phase_display()),
        "chunks_embedded_now": live_chunks_embedded(event),
    }


@login_required
@require_POST
def branch_sync(request, sync):
    project_sync = project_sync_get_for_user(request.user, uuid=sync)
    if (refused := _refusal(request, project_sync and project_sync.project, "branch")) is not None:
        return refused
    run, created = services.sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger.PAGE, requested_by=request.user)
    message = "Sync queued." if created else "A sync is already waiting; it will fetch the newest commit."
    return _answer(request, run, message, project_uuid=project_sync.project.uuid)


@login_required
@require_POST
def run_cancel(request, run):
    run = sync_run_get_for_user(request.user, uuid=run)
    project = run and run.project_sync.project
    if (refused := _refusal(request, project, "run")) is not None:
        return refused
    cancel = services.sync_run_cancel(run)
    run = cancel.run
    message = {
        services.Cancel.CANCELLED: "Sync cancelled.",
        services.Cancel.REQUESTED: "Cancel requested: the sync stops at its next checkpoint and keeps the live snapshot.",
        services.Cancel.FINISHED: f"This sync had already finished ({run.get_status_display().lower()}).",
    }[cancel.outcome]
    return _answer(request, run, message, project_uuid=project.uuid)


@login_required
@require_GET
def run_state(request, run):
    """The run's true state, for a page that lost its stream and wants to catch up."""
    run = sync_run_get_for_user(request.user, uuid=run)
    if run is None or not can_view(request.user, run.project_sync.project):
        return json_not_found()
    # The stream position first: any change after this read is also an event after it.
    event_id = current_event_id([project_channel(run.project_sync.project.uuid)])
    run.refresh_from_db()
    return JsonResponse({"event_id": event_id, "runs": [run_event(run)]})


@require_GET
def project_events(request):
    """Live runs of projects: `?project=<uuid>` (repeated, at most 10). A project the user may not
    see, or a missing one, gets 403 before any event is read."""
    channels = sorted({project_channel(value) for value in request.GET.getlist("project")})
    if not channels or len(channels) > MAX_STREAM_CHANNELS:
        return HttpResponseBadRequest(f"give 1 to {MAX_STREAM_CHANNELS} projects\n")
    return _stream(request, channels)


@require_GET
def operator_events(request):
    """Every run of every project, for superusers watching the admin (staff see their projects'
    channels instead, syncs.admin)."""
    return _stream(request, [OPERATORS_CHANNEL])


def _stream(request, channels: list[str]):
    # A refused channel gets a plain 403 (django-eventstream would answer 200 and an error event),
    # decided by the channel manager (syncs.channels); a stream holds no database connection while
    # it waits and ends when its reader loses the right (nyxsync.streams). Imported here: the admin
    # imports this module in every process, and only a web server streams.
    from nyxsync.streams import bounded_stream

    return bounded_stream(request, channels)


def _answer(request, run: SyncRun, message: str, *, project_uuid):
    if wants_json(request):
        return JsonResponse({"message": message, "run": run_event(run)})
    messages.info(request, message)
    return redirect("projects:detail", project=project_uuid)


def _refusal(request, project, what: str):
    """Before a change to a branch or run: 404 unless the user sees it (`project` None), 403
    unless they may sync its project; None to go on. JSON for the page's script."""
    if project is None:
        if wants_json(request):
            return json_not_found()
        raise Http404(f"no such {what}")
    if can_sync(request.user, project):
        return None
    message = "You may not sync this project."
    if wants_json(request):
        return JsonResponse({"error": message}, status=403)
    return HttpResponseForbidden(message)

