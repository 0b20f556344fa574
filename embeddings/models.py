from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import VectorField


class EmbeddingModel(models.Model):
    """An embedding model vectors are made with. Each one has its own partial HNSW index on
    embeddings_vector over its indexed rows (`embeddings_vector_hnsw_<id>_indexed`,
    embeddings.vectors), so vectors of any dimension coexist."""

    name = models.CharField(max_length=200, unique=True)
    backend = models.CharField(max_length=50)
    dimensions = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.dimensions}-d)"


class Vector(models.Model):
    """One vector per (model, tenant, content hash), shared by every chunk of the tenant's
    projects with that content, in any file or branch. Written as soon as it is computed, so no
    embedding work is ever lost.

    A tenant is a project's owner: vectors are shared within a tenant (an owner and its
    projects), never looked up across tenants, so nothing a run reports (chunks embedded or
    reused, the embed phase's total) depends on another tenant's data. Only when the operator
    turns on NYXSYNC_SHARE_VECTORS_ACROSS_TENANTS does a run copy another tenant's vector of the
    same text instead of embedding it (embeddings.vectors)."""

    # db_index=False here and below: a composite index that starts with the column serves it.
    model = models.ForeignKey(EmbeddingModel, on_delete=models.PROTECT, related_name="vectors", db_index=False)
    # The owner of the projects the vector serves; 0 for vectors no project used when tenants
    # were introduced (garbage collection takes them). No database constraint: a vector outlives
    # its projects until collected, and must never block deleting a user.
    tenant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # sha256 hex of the chunk text that was embedded.
    content_hash = models.CharField(max_length=64)
    # No fixed dimension: rows of one model share theirs; indexes cast to it (see EmbeddingModel).
    embedding = VectorField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Whether the row is in its model's HNSW index (whose predicate includes `indexed`). Rows are
    # written pending (False), so a sync's writes skip the index's slow inserts; the indexer
    # (embeddings.vectors.vectors_index_pending) moves them in, a batch at a time, after each
    # swap. Search reads the pending ones exactly (embeddings.search).
    indexed = models.BooleanField(db_default=False)

    class Meta:
        constraints = [
            # A tenant's vectors by hash: the lookup before embedding, search's chunk -> vector join.
            models.UniqueConstraint(fields=["model", "tenant", "content_hash"], name="vector_unique_model_tenant_hash"),
        ]
        indexes = [
            # Search's exact read of the caller's tenants' pending vectors; the indexer's batches.
            # As small as the backlog.
            models.Index(fields=["model", "tenant"], condition=models.Q(indexed=False), name="vector_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.tenant_id}:{self.content_hash[:12]}"


class SourceFile(models.Model):
    """A file of a branch's manifest, valid from generation `born_generation` until (excluded)
    `retired_generation`. A changed file is a retired row plus a new one; unchanged files carry
    over from one snapshot to the next without being touched."""

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="+")
    project_sync = models.ForeignKey(
        "syncs.ProjectSync", on_delete=models.PROTECT, related_name="files", db_index=False
    )
    path = models.TextField()
    blob_sha = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField(default=0)
    language = models.CharField(max_length=32, blank=True, default="")
    # Why the file has no chunks (binary, vendored, too large, ...); blank when it was chunked.
    skip_reason = models.CharField(max_length=32, blank=True, default="")
    born_generation = models.PositiveBigIntegerField()
    retired_generation = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one current version of a path in a branch.
            models.UniqueConstraint(
                fields=["project_sync", "path"],
                condition=models.Q(retired_generation__isnull=True),
                name="source_file_one_current_per_path",
            ),
        ]
        indexes = [
            # Snapshot reads: the files of a branch visible at a generation.
            models.Index(fields=["project_sync", "born_generation", "retired_generation"], name="source_file_snapshot"),
        ]

    def __str__(self) -> str:
        return self.path


class Chunk(models.Model):
    """A piece of a file version, with its line range and the hash its vector is keyed by."""

    file = models.ForeignKey(SourceFile, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    # Denormalised from the file so tenancy filters and row-level security need no join.
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="+")
    ordinal = models.PositiveIntegerField()
    start_line = models.PositiveIntegerField()
    end_line = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    text = models.TextField()
    # Names the chunk defines (embeddings.symbols), for identifier search; NULL: not read yet.
    symbols = ArrayField(models.CharField(max_length=200), null=True, blank=True)
    # The text's full-text vector (embeddings.text_search); NULL (pending) from the chunk's write
    # until the pass after the swap writes it.
    text_search = SearchVectorField(null=True)

    class Meta:
        ordering = ["file_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["file", "ordinal"], name="chunk_unique_ordinal"),
        ]
        indexes = [
            # Chunks -> vectors join (search, backfill) and orphan-vector collection.
            models.Index(fields=["content_hash"], name="chunk_content_hash"),
            # Search's full-text ranking (through embeddings_chunk_scope, see embeddings.search).
            GinIndex(fields=["text_search"], name="chunk_text_search"),
            # Search's word match of a scope's chunks whose text vector is not written yet, and the
            # pass that writes them (embeddings.text_search). As small as the backlog.
            models.Index(fields=["project"], condition=models.Q(text_search__isnull=True), name="chunk_text_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.file.path}:{self.start_line}-{self.end_line}"


class EmbedBatch(models.Model):
    """A slice of a run's embedding work that any worker may take (fan-out). Workers claim one
    with SELECT ... FOR UPDATE SKIP LOCKED and hold it for a lease; a worker that dies lets its
    lease lapse and another takes the batch. Rows live only while their run embeds."""

    run = models.ForeignKey("syncs.SyncRun", on_delete=models.CASCADE, related_name="embed_batches", db_index=False)
    model = models.ForeignKey(EmbeddingModel, on_delete=models.PROTECT, related_name="+")
    ordinal = models.PositiveIntegerField()
    content_hashes = ArrayField(models.CharField(max_length=64))
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Also the index the claim query walks (run, ordinal).
            models.UniqueConstraint(fields=["run", "ordinal"], name="embed_batch_unique_ordinal"),
        ]

    def __str__(self) -> str:
        return f"batch {self.ordinal} of run {self.run_id}"
