"""Admin for branches and runs. Runs in progress move live on the changelist and the change page
(the `operators` stream, the same live.js as the pages); actions call the same services as every
other door and report each outcome with message_user."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseForbidden, JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator
from django_eventstream import get_current_event_id

from nyxsync.uuids import parse_uuids
from projects.permissions import can_sync, can_view
from projects.selectors import projects_for_user
from syncs import services
from syncs.events import OPERATORS_CHANNEL, project_channel, run_event
from syncs.models import ProjectSync, SyncRun
from syncs.views import MAX_STREAM_CHANNELS, run_panel

logger = logging.getLogger(__name__)
# Names shown in one message before "and N more".
MESSAGE_NAMES = 5


def _names(items) -> str:
    items = [str(item) for item in items]
    shown = ", ".join(items[:MESSAGE_NAMES])
    return f"{shown} and {len(items) - MESSAGE_NAMES} more" if len(items) > MESSAGE_NAMES else shown


def enqueue_syncs(modeladmin, request, project_syncs, *, trigger: str) -> None:
    """Queue a run of each branch (a waiting run absorbs the trigger); one message per outcome."""
    queued, waiting, refused = [], [], []
    for project_sync in project_syncs:
        if not can_sync(request.user, project_sync.project):
            refused.append(project_sync)
            continue
        try:
            if trigger == SyncRun.Trigger.REEMBED:  # to the configured default model
                _, created = services.project_sync_reembed(
                    project_sync=project_sync, model_name=settings.NYXSYNC_EMBEDDING_MODEL, requested_by=request.user
                )
            else:
                _, created = services.sync_run_enqueue(
                    project_sync=project_sync, trigger=trigger, requested_by=request.user
                )
        except Exception as exc:  # the broker or the database refused: say so, go on with the others
            logger.error("admin.sync.enqueue_failed", extra={"project_sync_id": project_sync.pk}, exc_info=True)
            message = f"{project_sync}: could not queue a sync ({type(exc).__name__}: {exc})"
            modeladmin.message_user(request, message, messages.ERROR)
            continue
        (queued if created else waiting).append(project_sync)
    what = "re-embed" if trigger == SyncRun.Trigger.REEMBED else "sync"
    if queued:
        modeladmin.message_user(request, f"Queued a {what} of {_names(queued)}.", messages.SUCCESS)
    if waiting:
        modeladmin.message_user(request, f"A sync was already waiting for {_names(waiting)}; it fetches the newest commit.", messages.INFO)
    if refused:
        modeladmin.message_user(request, f"You may not sync {_names(refused)}.", messages.ERROR)


def cancel_runs(modeladmin, request, runs) -> None:
    cancelled, requested, finished, refused = [], [], [], []
    for run in runs:
        if not can_sync(request.user, run.project_sync.project):
            refused.append(run.project_sync)
            continue
        cancel = services.sync_run_cancel(run)
        outcomes = {services.Cancel.CANCELLED: cancelled, services.Cancel.REQUESTED: requested, services.Cancel.FINISHED: finished}
        outcomes[cancel.outcome].append(run.project_sync)
    if cancelled:
        modeladmin.message_user(request, f"Cancelled the waiting sync of {_names(cancelled)}.", messages.SUCCESS)
    if requested:
        modeladmin.message_user(
            request, f"Cancel requested for {_names(requested)}: each stops at its next checkpoint.", messages.SUCCESS
        )
    if finished:
        modeladmin.message_user(request, f"Already finished, nothing to cancel: {_names(finished)}.", messages.WARNING)
    if refused:
        modeladmin.message_user(request, f"You may not cancel syncs of {_names(refused)}.", messages.ERROR)


def report_integrity(modeladmin, request, projects) -> None:
    """The integrity scopes (vector count, chunks missing a vector, checksum) of each project."""
    from embeddings.integrity import project_report

    allowed = [project for project in projects if can_view(request.user, project)]
    if len(allowed) < len(projects):
        modeladmin.message_user(request, f"You may not check {_names(set(projects) - set(allowed))}.", messages.ERROR)
    if not allowed:
        return
    try:
        scopes = project_report(projects=allowed)
    except Exception as exc:
        logger.error("admin.integrity.failed", exc_info=True)
        modeladmin.message_user(request, f"The integrity report failed ({type(exc).__name__}: {exc}).", messages.ERROR)
        return
    by_project: dict[str, list] = {}
    for scope in scopes:
        by_project.setdefault(scope.key, []).append(scope)
    for project in allowed:
        found = by_project.get(str(project.uuid), [])
        if not found:
            modeladmin.message_user(request, f"{project}: no live snapshot yet, nothing to check.", messages.INFO)
        for scope in found:
            modeladmin.message_user(
                request,
                f"{scope.label} ({scope.model}): {scope.vectors} vectors, {scope.missing} live chunks without a vector, "
                f"checksum {scope.checksum}.",
                messages.WARNING if scope.missing else messages.SUCCESS,
            )


@admin.register(ProjectSync)
class ProjectSyncAdmin(admin.ModelAdmin):
    list_display = ["__str__", "repository_url", "branch", "short_live_commit", "embedding_model", "auto_sync", "last_synced_at"]
    list_filter = ["auto_sync", "embedding_model"]
    search_fields = ["project__name", "repository_url", "branch"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]

    def get_queryset(self, request):
        # Staff see the branches of the projects they may see (row-level security holds below).
        project_syncs = super().get_queryset(request)
        if request.user.is_superuser:
            return project_syncs
        return project_syncs.filter(project__in=projects_for_user(request.user))

    # What the sync writes is not for hand editing: a wrong live commit or generation would
    # point readers at the wrong snapshot.
    readonly_fields = ["uuid", "live_commit", "live_generation", "embedding_model", "last_synced_at", "created_at", "updated_at"]
    actions = ["sync_now", "reembed", "cancel_active", "check_integrity"]

    @admin.display(description="live commit")
    def short_live_commit(self, obj: ProjectSync) -> str:
        return obj.live_commit[:12]

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset):
        enqueue_syncs(self, request, queryset.select_related("project"), trigger=SyncRun.Trigger.ADMIN)

    @admin.action(description="Re-embed with the default model", permissions=["change"])
    def reembed(self, request, queryset):
        enqueue_syncs(self, request, queryset.select_related("project"), trigger=SyncRun.Trigger.REEMBED)

    @admin.action(description="Cancel", permissions=["change"])
    def cancel_active(self, request, queryset):
        runs = SyncRun.objects.filter(project_sync__in=queryset, status__in=SyncRun.ACTIVE_STATUSES)
        runs = list(runs.select_related("project_sync__project"))
        if not runs:
            self.message_user(request, "No sync of these branches is queued or running.", messages.WARNING)
            return
        cancel_runs(self, request, runs)

    @admin.action(description="Check integrity", permissions=["view"])
    def check_integrity(self, request, queryset):
        report_integrity(self, request, list({project_sync.project for project_sync in queryset.select_related("project")}))


def _stream_of(user, runs) -> tuple[str, list[str]]:
    """Where the admin's pages listen: superusers on the operators' channel (every tenant's runs),
    other staff on the channels of the projects of the runs shown (those they may see)."""
    if user.is_superuser:
        return reverse("operator_events"), [OPERATORS_CHANNEL]
    projects = list(dict.fromkeys(str(run.project_sync.project.uuid) for run in runs))[:MAX_STREAM_CHANNELS]
    if not projects:
        return "", []
    return f"{reverse('project_events')}?{urlencode([('project', uuid) for uuid in projects])}", [project_channel(uuid) for uuid in projects]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "short_uuid", "project_sync", "trigger", "live_status", "live_progress", "live_chunks", "created_at", "finished_at",
        "failure",
    ]
    list_filter = ["status", "phase", "trigger", "error_phase"]
    search_fields = ["uuid", "project_sync__project__name", "project_sync__branch", "commit_after"]
    list_select_related = ["project_sync__project"]
    date_hierarchy = "created_at"
    actions = ["cancel", "sync_now", "reembed"]

    def get_queryset(self, request):
        runs = super().get_queryset(request)
        return runs if request.user.is_superuser else runs.filter(project_sync__project__in=projects_for_user(request.user))
    fieldsets = [
        (None, {"fields": ["uuid", "project_sync", "trigger", "requested_by", "status", "phase", "embedding_model", "task_id"]}),
        ("Live progress", {"fields": ["live_panel"]}),
        ("Failure", {"fields": ["error_phase", "error", "cancel_requested_at"]}),
        ("Commits", {"fields": ["generation", "commit_before", "commit_after"]}),
        ("Counters", {"fields": [
            "files_seen", "files_changed", "files_deleted", "files_skipped", "skipped_by_reason", "chunks_embedded",
            "chunks_reused", "chunks_deleted", "progress_done", "progress_total", "phase_seconds",
        ]}),
        ("Times", {"fields": ["created_at", "started_at", "heartbeat_at", "finished_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # A run is a record of what happened: every field is read-only.
        return [field.name for field in self.model._meta.fields] + ["live_panel"]

    def has_add_permission(self, request):
        return False

    # --- live progress ---------------------------------------------------------------------

    def get_urls(self):
        state = path("live-state/", self.admin_site.admin_view(self.live_state_view), name="syncs_syncrun_live_state")
        return [state, *super().get_urls()]

    def live_state_view(self, request):
        """The true state of `?run=<uuid>` (repeated): what a page re-reads after a lost stream."""
        if not self.has_view_permission(request):
            return HttpResponseForbidden()
        wanted = parse_uuids(request.GET.getlist("run")[:200])
        runs = list(self.get_queryset(request).select_related("project_sync__project").filter(uuid__in=wanted))
        _, channels = _stream_of(request.user, runs)
        event_id = get_current_event_id(channels) if channels else ""
        return JsonResponse({"event_id": event_id, "runs": [run_event(run) for run in runs]})

    def _live_context(self, request, runs, event_ids: dict) -> dict:
        query = urlencode([("run", str(run.uuid)) for run in runs])
        stream_url, channels = _stream_of(request.user, runs)
        position = event_ids.get(tuple(channels)) or (get_current_event_id(channels) if channels else "")
        return {
            "stream_url": stream_url,
            "event_id": position,
            "state_url": f"{reverse('admin:syncs_syncrun_live_state')}?{query}",
            "initial_runs": [run_event(run) for run in runs],
        }

    def changelist_view(self, request, extra_context=None):
        # The stream position before the rows are read: the stream resumes right after them.
        event_ids = self._positions(request)
        response = super().changelist_view(request, extra_context=extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            response.context_data["live"] = self._live_context(request, list(changelist.result_list), event_ids)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event_ids = self._positions(request)
        run = self.get_object(request, unquote(object_id))
        # Every field is read-only: there is nothing to save.
        extra_context = {"show_save": False, "show_save_and_continue": False, **(extra_context or {})}
        if run is not None:
            extra_context["live"] = self._live_context(request, [run], event_ids)
        return super().change_view(request, object_id, form_url=form_url, extra_context=extra_context)

    @staticmethod
    def _positions(request) -> dict:
        """The operators' stream position, taken before the rows are read (staff's project channels
        are known only after: their position is taken then, a run that moves between may be re-read)."""
        return {(OPERATORS_CHANNEL,): get_current_event_id([OPERATORS_CHANNEL])} if request.user.is_superuser else {}

    @admin.display(description="run")
    def short_uuid(self, run: SyncRun) -> str:
        return str(run.uuid)[:8]

    @admin.display(description="status", ordering="status")
    def live_status(self, run: SyncRun):
        return format_html(
            '<span data-live-run="{}" data-run="{}" data-status="{}"><span class="badge status-{}" data-field="status">{}</span></span>',
            run.uuid, run.uuid, run.status, run.status, run.get_status_display(),
        )

    @admin.display(description="progress")
    def live_progress(self, run: SyncRun):
        panel = run_panel(run)
        summary = panel["status_label"] if panel["finished"] else panel["phase_label"] + (
            f" {panel['percent']}%" if panel["percent"] is not None else ""
        )
        bar = "" if panel["bar"] is None else format_html(' value="{}"', panel["bar"])
        return format_html(
            '<span class="live-progress" data-live-run="{}" data-run="{}"><span data-field="summary">{}</span> '
            '<progress class="bar" data-field="bar" max="100"{}></progress> <span data-field="progress">{}</span></span>',
            run.uuid, run.uuid, summary, bar, panel["progress_text"],
        )

    @admin.display(description="chunks embedded / reused")
    def live_chunks(self, run: SyncRun):
        return format_html(
            '<span data-live-run="{}" data-run="{}"><span data-field="chunks_embedded">{}</span> / '
            '<span data-field="chunks_reused">{}</span></span>',
            run.uuid, run.uuid, run.chunks_embedded, run.chunks_reused,
        )

    @admin.display(description="failure", ordering="error_phase")
    def failure(self, run: SyncRun):
        failed = run.status == SyncRun.Status.FAILED
        return format_html(
            '<span data-live-run="{}" data-run="{}"><span class="error-text" data-show-when="failed"{}>'
            '<span data-field="error_phase">{}</span>: <span data-field="error">{}</span></span></span>',
            run.uuid, run.uuid, "" if failed else " hidden", run.get_error_phase_display(), Truncator(run.error).chars(160),
        )

    @admin.display(description="live progress")
    def live_panel(self, run: SyncRun):
        panel = run_panel(run)
        inner = render_to_string("syncs/_run_panel.html", {"panel": panel})
        return format_html('<div data-live-run="{}" data-run="{}" data-status="{}">{}</div>', run.uuid, run.uuid, run.status, inner)

    # --- actions -----------------------------------------------------------------------------

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request, queryset):
        cancel_runs(self, request, list(queryset.select_related("project_sync__project")))

    @admin.action(description="Sync now (the runs' branches)", permissions=["change"])
    def sync_now(self, request, queryset):
        project_syncs = ProjectSync.objects.filter(runs__in=queryset).distinct().select_related("project")
        enqueue_syncs(self, request, project_syncs, trigger=SyncRun.Trigger.ADMIN)

    @admin.action(description="Re-embed the runs' branches with the default model", permissions=["change"])
    def reembed(self, request, queryset):
        project_syncs = ProjectSync.objects.filter(runs__in=queryset).distinct().select_related("project")
        enqueue_syncs(self, request, project_syncs, trigger=SyncRun.Trigger.REEMBED)
