"""Admin for branches and runs. Runs in progress move live on the changelist and the change page
(the `operators` stream, the same live.js as the pages); actions call the same services as every
other door and report each outcome with message_user.

What staff may do follows their role in each project (projects.permissions), as in the API; the
model permissions only open the pages. A branch's repository, project and name are fixed when it
is linked: only its schedule is edited here (project_sync_update_schedule), a branch is added
through project_sync_add and removed through project_sync_remove. Runs are records: nobody
edits or deletes them."""

from __future__ import annotations

import logging

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.http import HttpResponseForbidden, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator

from nyxsync.uuids import parse_uuids
from projects.permissions import can_sync, can_view
from projects.selectors import projects_for_user
from projects.services import ProjectError
from repositories.input import InvalidInput, validate_branch
from syncs import services
from syncs.events import OPERATORS_CHANNEL, current_event_id, project_channel, run_event
from syncs.models import ProjectSync, SyncRun
from syncs.views import MAX_STREAM_CHANNELS, run_panel

logger = logging.getLogger(__name__)
# Names shown in one message before "and N more".
MESSAGE_NAMES = 5


def names_of(items) -> str:
    items = [str(item) for item in items]
    shown = ", ".join(items[:MESSAGE_NAMES])
    return f"{shown} and {len(items) - MESSAGE_NAMES} more" if len(items) > MESSAGE_NAMES else shown


def confirm_action(modeladmin, request, objects, *, action: str, title: str, warning: str) -> TemplateResponse:
    """The page that asks before an action removes data; it posts the action again with post=yes."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title, "warning": warning, "objects": objects, "action": action,
        "opts": modeladmin.model._meta, "action_checkbox_name": ACTION_CHECKBOX_NAME, "media": modeladmin.media,
    }  # fmt: skip
    return TemplateResponse(request, "admin/confirm_action.html", context)


def confirmed(request) -> bool:
    return request.POST.get("post") == "yes"


def act_on_each(modeladmin, request, objects, *, may, act, done: str, verb: str) -> None:
    """`act` on each object the user `may` act on, through its service; one message for those
    done (`done` names them as {names}), one for those refused, one per conflict."""
    acted, refused = [], []
    for obj in objects:
        if not may(obj):
            refused.append(obj)
            continue
        try:
            act(obj)
        except services.SyncConflict as exc:
            modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
            continue
        acted.append(obj)
    if acted:
        modeladmin.message_user(request, done.format(names=names_of(acted)), messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, f"You may not {verb} {names_of(refused)}.", messages.ERROR)


def enqueue_syncs(modeladmin, request, project_syncs, *, trigger: str) -> None:
    """Queue a run of each branch (a waiting run absorbs the trigger); one message per outcome."""
    queued, waiting, refused, deleted = [], [], [], []
    for project_sync in project_syncs:
        if not can_sync(request.user, project_sync.project):
            refused.append(project_sync)
            continue
        if project_sync.project.deleted_at is not None:  # no door syncs a deleted project
            deleted.append(project_sync)
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
        modeladmin.message_user(request, f"Queued a {what} of {names_of(queued)}.", messages.SUCCESS)
    if waiting:
        modeladmin.message_user(request, f"A sync was already waiting for {names_of(waiting)}; it fetches the newest commit.", messages.INFO)
    if refused:
        modeladmin.message_user(request, f"You may not sync {names_of(refused)}.", messages.ERROR)
    if deleted:
        modeladmin.message_user(request, f"Deleted projects are not synced: {names_of(deleted)}.", messages.ERROR)


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
        modeladmin.message_user(request, f"Cancelled the waiting sync of {names_of(cancelled)}.", messages.SUCCESS)
    if requested:
        modeladmin.message_user(
            request, f"Cancel requested for {names_of(requested)}: each stops at its next checkpoint.", messages.SUCCESS
        )
    if finished:
        modeladmin.message_user(request, f"Already finished, nothing to cancel: {names_of(finished)}.", messages.WARNING)
    if refused:
        modeladmin.message_user(request, f"You may not cancel syncs of {names_of(refused)}.", messages.ERROR)


def report_integrity(modeladmin, request, projects) -> None:
    """The integrity scopes (vector count, chunks missing a vector, checksum) of each project."""
    from embeddings.integrity import project_report

    allowed = [project for project in projects if can_view(request.user, project)]
    if len(allowed) < len(projects):
        modeladmin.message_user(request, f"You may not check {names_of(set(projects) - set(allowed))}.", messages.ERROR)
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


def _schedule_check(cleaned_data: dict) -> None:
    try:
        services.project_sync_schedule_check(
            auto_sync=cleaned_data.get("auto_sync", False),
            auto_sync_interval_minutes=cleaned_data.get("auto_sync_interval_minutes"),
        )
    except ProjectError as exc:
        raise forms.ValidationError(str(exc), code="invalid") from None


class ProjectSyncChangeForm(forms.ModelForm):
    """The schedule, checked by the services' rule before project_sync_update_schedule writes it."""

    class Meta:
        model = ProjectSync
        fields = ["auto_sync", "auto_sync_interval_minutes"]

    def clean(self):
        _schedule_check(super().clean())
        return self.cleaned_data


class ProjectSyncAddForm(ProjectSyncChangeForm):
    """One more branch of a project the user may sync, written by project_sync_add (which takes the
    repository from the project's branches: it is never typed here)."""

    user = None  # set by ProjectSyncAdmin.get_form

    class Meta:
        model = ProjectSync
        fields = ["project", "branch", "auto_sync", "auto_sync_interval_minutes"]

    def clean_project(self):
        project = self.cleaned_data["project"]
        if not can_sync(self.user, project):
            raise forms.ValidationError("You may not add branches to this project.", code="forbidden")
        return project

    def clean_branch(self):
        try:
            return validate_branch(self.cleaned_data["branch"])
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


def _may_change(user, project_sync: ProjectSync) -> bool:
    # A deleted project's branches wait for its purge, as in the API (superusers see them).
    return project_sync.project.deleted_at is None and can_sync(user, project_sync.project)


@admin.register(ProjectSync)
class ProjectSyncAdmin(admin.ModelAdmin):
    list_display = ["__str__", "repository_url", "branch", "short_live_commit", "embedding_model", "auto_sync", "last_synced_at"]
    list_filter = ["auto_sync", "embedding_model"]
    search_fields = ["project__name", "repository_url", "branch"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]
    form = ProjectSyncChangeForm
    add_form = ProjectSyncAddForm
    fields = [
        "uuid", "project", "repository_url", "branch", "auto_sync", "auto_sync_interval_minutes", "live_commit",
        "live_generation", "embedding_model", "last_synced_at", "last_checked_at", "next_check_at", "created_at",
        "updated_at",
    ]  # fmt: skip
    # Fixed at link time (a repository URL that changed would send the project's token and fetch
    # another repository), or written by the sync (a wrong live commit or generation would point
    # readers at the wrong snapshot): never edited by hand.
    readonly_fields = [
        "uuid", "project", "repository_url", "branch", "live_commit", "live_generation", "embedding_model",
        "last_synced_at", "last_checked_at", "next_check_at", "created_at", "updated_at",
    ]  # fmt: skip
    actions = ["sync_now", "reembed", "cancel_active", "check_integrity", "remove"]

    def get_queryset(self, request):
        # Staff see the branches of the projects they may see (row-level security holds below).
        project_syncs = super().get_queryset(request)
        if request.user.is_superuser:
            return project_syncs
        return project_syncs.filter(project__in=projects_for_user(request.user))

    # --- what the user's role allows (the model permissions only open the pages) ------------

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or _may_change(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return False  # Django's delete would skip the service: the `remove` action calls it

    def has_remove_permission(self, request):
        return super().has_delete_permission(request)

    def get_fields(self, request, obj=None):
        return self.fields if obj is not None else ["project", "branch", "auto_sync", "auto_sync_interval_minutes"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user  # a new class per request (modelform_factory)
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "project":  # a hidden or deleted project's id is not a valid choice
            kwargs["queryset"] = projects_for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        schedule = {"auto_sync": data["auto_sync"], "auto_sync_interval_minutes": data["auto_sync_interval_minutes"]}
        if change:
            # The row as stored: the service compares the old schedule with the new one.
            services.project_sync_update_schedule(project_sync=ProjectSync.objects.get(pk=obj.pk), **schedule)
            obj.refresh_from_db()
            return
        created = services.project_sync_add(project=data["project"], branch=data["branch"], **schedule)
        obj.pk = created.pk  # the admin's log and redirect need the saved row
        obj.refresh_from_db()
        obj._state.adding = False

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

    @admin.action(description="Remove branches (their files, chunks and runs)", permissions=["remove"])
    def remove(self, request, queryset):
        project_syncs = list(queryset.select_related("project"))
        if not confirmed(request):
            warning = (
                "Stop syncing these branches and delete their files, chunks and run history? Their projects stay. "
                "A branch with a run in progress is not removed: cancel the run first."
            )
            return confirm_action(self, request, project_syncs, action="remove", title="Remove branches", warning=warning)
        act_on_each(
            self, request, project_syncs, may=lambda project_sync: _may_change(request.user, project_sync),
            act=lambda project_sync: services.project_sync_remove(project_sync=project_sync), done="Removed {names}.", verb="remove",
        )  # fmt: skip
        return None

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

    # "change" is for the actions (cancel, sync: each checks the role per run); a run's page is
    # only read, as a save would write the whole row back over what the worker wrote meanwhile.
    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # a run goes with its branch (project_sync_remove)

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
        event_id = current_event_id(channels) if channels else ""
        return JsonResponse({"event_id": event_id, "runs": [run_event(run) for run in runs]})

    def _live_context(self, request, runs, event_ids: dict) -> dict:
        query = urlencode([("run", str(run.uuid)) for run in runs])
        stream_url, channels = _stream_of(request.user, runs)
        position = event_ids.get(tuple(channels)) or (current_event_id(channels) if channels else "")
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
        extra_context = dict(extra_context or {})
        if run is not None:
            extra_context["live"] = self._live_context(request, [run], event_ids)
        return super().change_view(request, object_id, form_url=form_url, extra_context=extra_context)

    @staticmethod
    def _positions(request) -> dict:
        """The operators' stream position, taken before the rows are read (staff's project channels
        are known only after: their position is taken then, a run that moves between may be re-read)."""
        return {(OPERATORS_CHANNEL,): current_event_id([OPERATORS_CHANNEL])} if request.user.is_superuser else {}

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
