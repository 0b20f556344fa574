from django.contrib import admin

from projects.models import Project
from syncs.admin import enqueue_syncs, report_integrity
from syncs.models import ProjectSync, SyncRun


class ProjectSyncInline(admin.TabularInline):
    """The project's branches, to read; a branch is changed on its own page."""

    model = ProjectSync
    fields = ["branch", "repository_url", "live_commit", "embedding_model", "auto_sync", "last_synced_at"]
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "repository", "sync_status", "updated_at", "deleted_at"]
    list_filter = ["sync_status", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "repository", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["uuid", "sync_status", "created_at", "updated_at", "deleted_at"]
    inlines = [ProjectSyncInline]
    actions = ["sync_now", "reembed", "check_integrity"]

    @admin.action(description="Sync now (every branch)", permissions=["change"])
    def sync_now(self, request, queryset):
        syncs = ProjectSync.objects.filter(project__in=queryset).select_related("project")
        enqueue_syncs(self, request, syncs, trigger=SyncRun.Trigger.ADMIN)

    @admin.action(description="Re-embed (every branch)", permissions=["change"])
    def reembed(self, request, queryset):
        syncs = ProjectSync.objects.filter(project__in=queryset).select_related("project")
        enqueue_syncs(self, request, syncs, trigger=SyncRun.Trigger.REEMBED)

    @admin.action(description="Check integrity", permissions=["view"])
    def check_integrity(self, request, queryset):
        report_integrity(self, request, list(queryset))
