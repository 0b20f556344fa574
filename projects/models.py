import uuid

from django.conf import settings
from django.db import models

from nyxsync.fields import EncryptedTextField


class Project(models.Model):
    """A user's project: one linked repository, synced on one or more branches (ProjectSync)."""

    class SyncStatus(models.TextChoices):
        IDLE = "idle", "Idle"
        QUEUED = "queued", "Queued"
        SYNCING = "syncing", "Syncing"
        SYNCED = "synced", "Synced"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects")
    name = models.CharField(max_length=100)
    # As the user linked it: a GitHub "owner/name" or a git URL.
    repository = models.CharField(max_length=500)
    sync_status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.IDLE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft delete: a deleted project keeps its vectors until an explicit purge.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # HMAC key of the GitHub push webhook (projects.webhooks). Shown once when (re)generated, never
    # listed again. NULL (not ""): no webhook set up yet; nullable also lets code that predates
    # the column keep inserting during a deploy.
    webhook_secret = EncryptedTextField(null=True, blank=True, editable=False)  # noqa: DJ001
    # Deliveries are verified at the project's own URL (/api/v1/webhooks/github/<uuid>/). True only
    # for hooks made before that URL existed, which GitHub still sends to the shared one: the shared
    # URL compares these projects' secrets only, so no project linked since can crowd them out.
    webhook_shared_url = models.BooleanField(default=False, db_default=False, editable=False)
    # The project's own token for its repository (a GitHub token, or any HTTPS token its host
    # takes), set by an owner and never shown again: git and the GitHub API get it for this
    # project's repository only (repositories.tokens.repository_token). NULL: none.
    github_token = EncryptedTextField(null=True, blank=True, editable=False)  # noqa: DJ001
    # The host github_token was set for: it is sent there only, even if a branch's repository
    # URL changes later (repositories.tokens). Blank with a token: sent nowhere.
    github_token_host = models.CharField(max_length=253, blank=True, default="", db_default="", editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=models.Q(deleted_at__isnull=True),
                name="project_unique_name_per_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner} / {self.name}"


class WebhookDelivery(models.Model):
    """A verified webhook delivery, recorded so that a replay (same X-GitHub-Delivery) is ignored."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    delivery_id = models.CharField(max_length=100)
    event = models.CharField(max_length=50)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Replay protection: the insert of a second copy fails, inside the transaction that
            # would have triggered the sync.
            models.UniqueConstraint(fields=["project", "delivery_id"], name="webhook_delivery_unique_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"


class Membership(models.Model):
    """A user's role in a project other than its owner's: viewers search and watch, maintainers
    also sync and change settings, owners also manage members and delete. The project's `owner`
    is an owner without a membership row."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        MAINTAINER = "maintainer", "Maintainer"
        OWNER = "owner", "Owner"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index of "members of a project" (project first).
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.project}"
