from django.contrib import admin

from projects.models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "repository", "sync_status", "updated_at", "deleted_at"]
    list_filter = ["sync_status", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "repository", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["uuid", "sync_status", "created_at", "updated_at", "deleted_at"]
