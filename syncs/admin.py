from django.contrib import admin

from syncs.models import ProjectSync, SyncRun


@admin.register(ProjectSync)
class ProjectSyncAdmin(admin.ModelAdmin):
    list_display = ["__str__", "repository_url", "branch", "short_live_commit", "embedding_model", "auto_sync", "last_synced_at"]
    list_filter = ["auto_sync", "embedding_model"]
    search_fields = ["project__name", "repository_url", "branch"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]
    # What the sync writes is not for hand editing: a wrong live commit or generation would
    # point readers at the wrong snapshot.
    readonly_fields = ["uuid", "live_commit", "live_generation", "embedding_model", "last_synced_at", "created_at", "updated_at"]

    @admin.display(description="live commit")
    def short_live_commit(self, obj: ProjectSync) -> str:
        return obj.live_commit[:12]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["uuid", "project_sync", "trigger", "status", "phase", "chunks_embedded", "chunks_reused", "created_at", "finished_at"]
    list_filter = ["status", "phase", "trigger"]
    search_fields = ["uuid", "project_sync__project__name", "project_sync__branch", "commit_after"]
    list_select_related = ["project_sync__project"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        # A run is a record of what happened: every field is read-only.
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False
