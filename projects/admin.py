"""Admin for projects: their branches, members and secrets. Staff who are not superusers see the
projects they may see (projects.selectors) and change only what their role allows
(projects.permissions); member changes and the repository token go through projects.services,
which report refusals with message_user. Secrets are never shown: the page says whether one is
set, and a token field is write-only.

As in the API, only the name and the token change here (project_rename, project_github_token_set);
the owner and the repository are fixed when a project is linked (a page or the API creates it,
with the repository's checks). Deleting is the API's soft delete (project_soft_delete) and purge
(project_purge), as actions: Django's own delete would skip them."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect

from projects import services
from projects.models import Membership, Project
from projects.permissions import can_manage, can_view
from projects.selectors import deleted_projects_for_user, projects_for_user
from syncs import services as sync_services
from syncs.admin import act_on_each, confirm_action, confirmed, enqueue_syncs, report_integrity
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


class MembershipInline(admin.TabularInline):
    """Members and their roles; saved through projects.services (ProjectAdmin.save_formset), so
    only owners change them and the last owner stays."""

    model = Membership
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]
    extra = 0

    # `obj` is the project: its owners manage members; whoever may see it, sees them.
    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (obj is None or can_view(request.user, obj))

    def has_add_permission(self, request, obj=None):
        return obj is not None and super().has_add_permission(request, obj) and can_manage(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return obj is not None and super().has_change_permission(request, obj) and can_manage(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and super().has_delete_permission(request, obj) and can_manage(request.user, obj)


class ProjectAdminForm(forms.ModelForm):
    # Write-only: never filled in with the stored token (render_value=False), never listed.
    new_github_token = forms.CharField(
        required=False,
        strip=False,
        max_length=255,
        label="New repository token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown. Leave empty to keep the current one.",
    )
    remove_github_token = forms.BooleanField(required=False, label="Remove the repository token")

    class Meta:
        model = Project
        fields = ["name"]

    def clean_new_github_token(self):
        token = self.cleaned_data["new_github_token"]
        try:
            services.github_token_validate(token)
        except services.ProjectError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None
        return token


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = ["name", "owner", "repository", "sync_status", "updated_at", "deleted_at"]
    list_filter = ["sync_status", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "repository", "owner__username"]
    list_select_related = ["owner"]
    fields = [
        "uuid", "name", "owner", "repository", "new_github_token", "remove_github_token", "github_token_status",
        "webhook_secret_status", "sync_status", "created_at", "updated_at", "deleted_at",
    ]  # fmt: skip
    readonly_fields = [
        "uuid", "owner", "repository", "sync_status", "webhook_secret_status", "github_token_status", "created_at",
        "updated_at", "deleted_at",
    ]  # fmt: skip
    inlines = [ProjectSyncInline, MembershipInline]
    actions = ["sync_now", "reembed", "check_integrity", "soft_delete", "purge"]

    def get_queryset(self, request):
        projects = super().get_queryset(request)
        if request.user.is_superuser:
            return projects
        # Live projects the user may see, and deleted ones they may purge: the selectors' rules.
        visible = Q(pk__in=projects_for_user(request.user).values("pk"))
        return projects.filter(visible | Q(pk__in=deleted_projects_for_user(request.user).values("pk")))

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is None or not can_manage(request.user, obj):  # the token is the owners' to set
            fields = [name for name in fields if name not in ("new_github_token", "remove_github_token")]
        return fields

    # Whoever may see a project sees its page; only its owners change it, and only while it lives
    # (a deleted project waits for its purge, as in the API).
    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (obj is None or can_view(request.user, obj))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or (obj.deleted_at is None and can_manage(request.user, obj))
        )

    def has_add_permission(self, request):
        return False  # linking a repository creates a project (pages, API), with its checks

    def has_delete_permission(self, request, obj=None):
        return False  # Django's delete would skip the services: the soft_delete and purge actions call them

    def has_remove_permission(self, request):
        return super().has_delete_permission(request)

    @admin.display(description="webhook secret")
    def webhook_secret_status(self, project: Project) -> str:
        return "set (shown only when generated)" if project.webhook_secret else "not set"

    @admin.display(description="repository token")
    def github_token_status(self, project: Project) -> str:
        return "set (never shown)" if project.github_token else "not set"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A save the services refuse (a name the owner has taken: the form cannot tell, as the
        # owner's other projects may be hidden from this user) rolls back in Django's transaction.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.ProjectError as exc:
            self.message_user(request, f"Nothing was saved: {exc}.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        services.project_rename(project=Project.objects.get(pk=obj.pk), name=data["name"])
        obj.refresh_from_db()
        if data.get("remove_github_token") or data.get("new_github_token"):
            token = None if data.get("remove_github_token") else data["new_github_token"]
            services.project_github_token_set(project=obj, token=token)
            self.message_user(request, "Repository token saved." if token else "Repository token removed.", messages.SUCCESS)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        project = form.instance
        formset.save(commit=False)  # what changed; the services write it
        for membership in formset.deleted_objects:
            self._member_change(request, membership.user, services.project_member_remove, project=project)
        for membership in formset.new_objects:
            self._member_change(request, membership.user, services.project_member_add, project=project, role=membership.role)
        for membership, changed in formset.changed_objects:
            if "user" in changed:
                self.message_user(request, "A member's user cannot change: remove the member and add the other user.", messages.ERROR)
            elif "role" in changed:
                self._member_change(
                    request, membership.user, services.project_member_change_role, project=project, role=membership.role
                )

    def _member_change(self, request, user, change, **kwargs):
        try:
            change(actor=request.user, username=user.get_username(), **kwargs)
        except (services.ProjectError, PermissionDenied) as exc:
            self.message_user(request, f"{user.get_username()}: {exc}", messages.ERROR)

    @admin.action(description="Sync now (every branch)", permissions=["change"])
    def sync_now(self, request, queryset):
        project_syncs = ProjectSync.objects.filter(project__in=queryset).select_related("project")
        enqueue_syncs(self, request, project_syncs, trigger=SyncRun.Trigger.ADMIN)

    @admin.action(description="Re-embed every branch with the default model", permissions=["change"])
    def reembed(self, request, queryset):
        project_syncs = ProjectSync.objects.filter(project__in=queryset).select_related("project")
        enqueue_syncs(self, request, project_syncs, trigger=SyncRun.Trigger.REEMBED)

    @admin.action(description="Delete (embeddings kept until purged)", permissions=["remove"])
    def soft_delete(self, request, queryset):
        projects = list(queryset.filter(deleted_at__isnull=True).select_related("owner"))
        if not projects:
            self.message_user(request, "No live project was selected.", messages.WARNING)
            return None
        if not confirmed(request):
            warning = (
                "Delete these projects? They disappear from every page, search and the API, their syncs stop; "
                "their files, chunks and vectors are kept until they are purged."
            )
            return confirm_action(self, request, projects, action="soft_delete", title="Delete projects", warning=warning)
        act_on_each(
            self, request, projects, may=lambda project: can_manage(request.user, project),
            act=lambda project: sync_services.project_soft_delete(project=project),
            done="Deleted {names}; purge them to remove their embeddings.", verb="delete",
        )  # fmt: skip
        return None

    @admin.action(description="Purge deleted projects (for good)", permissions=["remove"])
    def purge(self, request, queryset):
        projects = list(queryset.filter(deleted_at__isnull=False).select_related("owner"))
        if not projects:
            self.message_user(request, "No deleted project was selected: delete projects before purging them.", messages.WARNING)
            return None
        if not confirmed(request):
            warning = "Purge these deleted projects? Their branches, files, chunks and runs are removed for good."
            return confirm_action(self, request, projects, action="purge", title="Purge projects", warning=warning)
        act_on_each(
            self, request, projects, may=lambda project: can_manage(request.user, project),  # the owners, as deleted_projects_for_user
            act=lambda project: sync_services.project_purge(project=project), done="Purged {names}.", verb="purge",
        )  # fmt: skip
        return None

    @admin.action(description="Check integrity", permissions=["view"])
    def check_integrity(self, request, queryset):
        report_integrity(self, request, list(queryset))
