"""Embedding data, to read: the sync writes it, nobody edits or deletes it here. Staff other than
superusers see the files and chunks of the projects they may see (projects.selectors; row-level
security holds below), vectors only superusers."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from embeddings.models import Chunk, EmbeddingModel, SourceFile, Vector
from projects.selectors import projects_for_user


class EstimatedCountPaginator(Paginator):
    """Big tables: the planner's row estimate instead of a full COUNT(*) (healthchecks' PingsPaginator).
    The estimate counts every tenant's rows, so only superusers get it (`ReadOnlyAdmin.get_paginator`);
    other staff count the rows row-level security shows them."""

    @cached_property
    def count(self):
        query = self.object_list.query
        if query.where:
            return super().count
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [self.object_list.model._meta.db_table])
            row = cursor.fetchone()
        return max(row[0], 0) if row else super().count


class ReadOnlyAdmin(admin.ModelAdmin):
    """Embedding data is written by the sync only."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # "view" shows every field; a save would write back what was read

    def has_delete_permission(self, request, obj=None):
        return False

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = self.paginator if request.user.is_superuser else Paginator
        return paginator(queryset, per_page, orphans, allow_empty_first_page)


@admin.register(EmbeddingModel)
class EmbeddingModelAdmin(ReadOnlyAdmin):
    list_display = ["name", "backend", "dimensions", "created_at"]


@admin.register(SourceFile)
class SourceFileAdmin(ReadOnlyAdmin):
    list_display = ["path", "project_sync", "language", "size_bytes", "skip_reason", "born_generation", "retired_generation"]
    list_filter = ["language", "skip_reason"]
    search_fields = ["path", "blob_sha"]
    list_select_related = ["project_sync__project"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        files = super().get_queryset(request)
        return files if request.user.is_superuser else files.filter(project__in=projects_for_user(request.user))


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdmin):
    list_display = ["file", "start_line", "end_line", "content_hash"]
    search_fields = ["content_hash"]
    list_select_related = ["file"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        chunks = super().get_queryset(request)
        return chunks if request.user.is_superuser else chunks.filter(project__in=projects_for_user(request.user))


@admin.register(Vector)
class VectorAdmin(ReadOnlyAdmin):
    """Superusers only: vectors carry no project, and their counts, hashes and dates across
    tenants would tell one tenant's staff what the others hold."""

    list_display = ["content_hash", "model", "tenant_id", "created_at"]
    list_filter = ["model"]
    search_fields = ["content_hash"]
    list_select_related = ["model"]
    exclude = ["embedding", "tenant"]  # 384 floats are not for reading; the tenant is shown by id
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return ["tenant_id", *(field.name for field in self.model._meta.fields if field.name not in ("embedding", "tenant"))]
