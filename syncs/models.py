import uuid

from django.conf import settings
from django.db import models


def default_embedding_model() -> str:
    return settings.NYXSYNC_EMBEDDING_MODEL


class ProjectSync(models.Model):
    """One branch of a project's repository, kept in sync.

    The live snapshot is the generation `live_generation`: the manifest rows (embeddings.SourceFile)
    born at or before it and not retired at or before it. A run stages generation live + 1 next to
    it and one UPDATE of this row makes it live (see syncs.pipeline).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="syncs")
    # Normalised fetch URL (https://github.com/owner/name.git, or the git URL as linked).
    repository_url = models.CharField(max_length=500)
    branch = models.CharField(max_length=255)
    live_commit = models.CharField(max_length=64, blank=True, default="")
    live_generation = models.PositiveBigIntegerField(default=0)
    # Chunks in the live snapshot, kept by each swap: search picks exact or index scan by it.
    live_chunk_count = models.PositiveIntegerField(default=0, db_default=0)
    # The model the live snapshot's vectors were made with (search embeds queries with it).
    embedding_model = models.CharField(max_length=200, default=default_embedding_model)
    auto_sync = models.BooleanField(default=False)
    auto_sync_interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Scheduled syncs (syncs.schedule): when the branch head was last compared with the live
    # commit, and when it is due again. NULL next_check_at with auto_sync on: due now.
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "project_syncs"
        ordering = ["project_id", "branch"]
        indexes = [
            # The scheduler's due query: auto-synced branches by next check time.
            models.Index(fields=["next_check_at"], condition=models.Q(auto_sync=True), name="project_sync_due_check"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "branch"], name="project_sync_unique_branch"),
            models.CheckConstraint(
                condition=models.Q(auto_sync_interval_minutes__isnull=True) | models.Q(auto_sync_interval_minutes__gte=1),
                name="project_sync_interval_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.name}@{self.branch}"


class SyncRun(models.Model):
    """One execution of the sync of a ProjectSync: created queued by a trigger, then run once."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        UP_TO_DATE = "up_to_date", "Up to date"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Phase(models.TextChoices):
        QUEUED = "queued", "Queued"
        FETCH = "fetch", "Fetch"
        DIFF = "diff", "Diff"
        CHUNK = "chunk", "Chunk"
        EMBED = "embed", "Embed"
        WRITE = "write", "Write"
        SWAP = "swap", "Swap"
        DONE = "done", "Done"

    class Trigger(models.TextChoices):
        PAGE = "page", "Web page"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        WEBHOOK = "webhook", "Webhook"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command"
        REEMBED = "reembed", "Re-embed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project_sync = models.ForeignKey(ProjectSync, on_delete=models.PROTECT, related_name="runs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.QUEUED)
    embedding_model = models.CharField(max_length=200, default=default_embedding_model)
    # The snapshot generation this run stages (live_generation + 1 when it started).
    generation = models.PositiveBigIntegerField(null=True, blank=True)
    commit_before = models.CharField(max_length=64, blank=True, default="")
    commit_after = models.CharField(max_length=64, blank=True, default="")
    files_seen = models.PositiveIntegerField(default=0)
    files_changed = models.PositiveIntegerField(default=0)
    files_deleted = models.PositiveIntegerField(default=0)
    files_skipped = models.PositiveIntegerField(default=0)
    skipped_by_reason = models.JSONField(default=dict, blank=True)
    chunks_embedded = models.PositiveIntegerField(default=0)
    chunks_reused = models.PositiveIntegerField(default=0)
    chunks_deleted = models.PositiveIntegerField(default=0)
    # Progress of the current phase, for pages that load while the run is going.
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    phase_seconds = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    error_phase = models.CharField(max_length=16, choices=Phase.choices, blank=True, default="")
    task_id = models.CharField(max_length=255, blank=True, default="")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One run at a time per branch; at most one more waits (triggers coalesce into it).
            models.UniqueConstraint(
                fields=["project_sync"], condition=models.Q(status="running"), name="sync_run_one_running_per_sync"
            ),
            models.UniqueConstraint(
                fields=["project_sync"], condition=models.Q(status="queued"), name="sync_run_one_queued_per_sync"
            ),
        ]
        indexes = [
            # Run history of a branch, newest first (project page, API list).
            models.Index(fields=["project_sync", "-created_at"], name="sync_run_history"),
            # The stale-run sweep looks only at active runs.
            models.Index(
                fields=["heartbeat_at"], condition=models.Q(status__in=["queued", "running"]), name="sync_run_active"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.uuid} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES
