from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from embeddings.models import Chunk, EmbeddingModel, SourceFile, Vector


class EstimatedCountPaginator(Paginator):
    """Big tables: the planner's row estimate instead of a full COUNT(*) (healthchecks' PingsPaginator)."""

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

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdmin):
    list_display = ["file", "start_line", "end_line", "content_hash"]
    search_fields = ["content_hash"]
    list_select_related = ["file"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(Vector)
class VectorAdmin(ReadOnlyAdmin):
    list_display = ["content_hash", "model", "created_at"]
    list_filter = ["model"]
    search_fields = ["content_hash"]
    list_select_related = ["model"]
    exclude = ["embedding"]  # 384 floats are not for reading
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name != "embedding"]
