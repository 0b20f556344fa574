"""REST API (v1): projects, tokens, members and the GitHub webhook (the shared base of every API
view is nyxsync.api; of the project-scoped ones, projects.api).

One view per operation, `<Entity><Action>Api`, each with nested InputSerializer/OutputSerializer:
validate, call one service, serialize. Views under /projects/<project_uuid>/ derive from
ProjectScopedApi, which resolves the project through projects.selectors (the one tenancy gate)
and checks projects.permissions before the handler runs: a project the caller may not see is
404, one they see but may not change is 403. Errors are rendered by nyxsync.api_errors.
"""

from __future__ import annotations

import logging

from django.urls import NoReverseMatch, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from nyxsync import api_tokens
from nyxsync.api import (
    PROJECT_UUID,
    BaseApi,
    BranchListThrottle,
    Pagination,
    QuerySerializer,
    StrictSerializer,
    absolute_url,
    paginated_response,
    query_filters,
)
from nyxsync.api_errors import ApiError, PayloadTooLarge, error_responses
from projects import permissions, selectors, services
from projects.api import ProjectScopedApi
from projects.models import Membership, Project
from projects.webhooks import MAX_BODY_BYTES, github_delivery_handle
from repositories.branches import project_repository_branches
from syncs.events import project_channel
from syncs.services import project_link, project_purge, project_soft_delete

logger = logging.getLogger(__name__)


# --- helpers -----------------------------------------------------------------------------------


def events_path(project: Project) -> str:
    """The project's live-progress stream (Server-Sent Events on channel project-<uuid>, served
    by syncs.views.project_events)."""
    try:
        return f"{reverse('project_events')}?project={project.uuid}"
    except NoReverseMatch:  # the pages' URLs are not mounted (an API-only deployment)
        return f"/events/projects/?project={project.uuid}"


# --- API token ----------------------------------------------------------------------------------


class ApiTokenCreateApi(BaseApi):
    """Create (or replace) your API token. The key is shown only in this answer; the server keeps
    a digest of it. Without `expires_in_days` it stays valid until revoked (or the deployment's
    maximum age)."""

    # A POST without a body (a browser form, `curl -X POST`) asks for a token without expiry.
    parser_classes = (JSONParser, FormParser, MultiPartParser)

    class InputSerializer(StrictSerializer):
        expires_in_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(source="key")
        created = serializers.DateTimeField()
        expiry = serializers.DateTimeField(allow_null=True)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, **error_responses(400, 401)}, tags=["auth"])
    def post(self, request):
        data = self.InputSerializer(data=request.data.dict() if hasattr(request.data, "dict") else request.data)
        data.is_valid(raise_exception=True)
        token = api_tokens.api_token_issue(user=request.user, expires_in_days=data.validated_data.get("expires_in_days"))
        return Response(self.OutputSerializer(token).data, status=status.HTTP_201_CREATED)


class ApiTokenDeleteApi(BaseApi):
    """Revoke your API token (the one this request may be using)."""

    @extend_schema(request=None, responses={204: None, **error_responses(401)}, tags=["auth"])
    def delete(self, request):
        api_tokens.api_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- projects -----------------------------------------------------------------------------------


class ProjectOutputSerializer(serializers.ModelSerializer):
    branches = serializers.SerializerMethodField()
    webhook_secret_set = serializers.SerializerMethodField()
    github_token_set = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()

    class Meta:
        model = Project
        ref_name = "Project"
        fields = [
            "uuid", "name", "repository", "sync_status", "branches", "webhook_secret_set", "github_token_set",
            "webhook_url", "events_url", "created_at", "updated_at",
        ]  # fmt: skip

    def get_branches(self, project) -> list[str]:
        return sorted(project_sync.branch for project_sync in project.syncs.all())

    def get_webhook_secret_set(self, project) -> bool:
        return bool(project.webhook_secret)

    def get_github_token_set(self, project) -> bool:
        return bool(project.github_token)

    def get_webhook_url(self, project) -> str:
        """Where GitHub sends the project's deliveries: its own URL, or the shared one for a
        hook set up before per-project URLs existed."""
        if project.webhook_shared_url:
            return absolute_url(self.context["request"], "api:webhook-github")
        return absolute_url(self.context["request"], "api:webhook-github-project", project_uuid=project.uuid)

    def get_events_url(self, project) -> str:
        return self.context["request"].build_absolute_uri(events_path(project))


def _projects(queryset):
    return queryset.prefetch_related("syncs")


class ProjectListApi(BaseApi):
    """Your projects (every project, for superusers)."""

    pagination_class = Pagination

    class FilterSerializer(QuerySerializer):
        search = serializers.CharField(required=False, max_length=100, help_text="Part of the name.")
        sync_status = serializers.ChoiceField(required=False, choices=Project.SyncStatus.choices)
        ordering = serializers.ChoiceField(
            required=False,
            default="name",
            choices=["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"],
        )

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ProjectOutputSerializer(many=True), **error_responses(400, 401)},
        tags=["projects"],
    )
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        projects = selectors.projects_for_user(
            request.user, search=filters.get("search"), sync_status=filters.get("sync_status"), ordering=filters["ordering"]
        )
        projects = _projects(projects)
        return paginated_response(self, projects, ProjectOutputSerializer)


def github_token_field(**kwargs):
    """Write-only: set with it, never read back (answers say only `github_token_set`)."""
    return serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=255,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Token for the project's repository (a GitHub token, or one its git host takes over HTTPS). "
        "Stored encrypted, never shown again; null or \"\" removes it.",
        **kwargs,
    )


class ProjectCreateApi(BaseApi):
    """Link a repository (GitHub `owner/name` or an https:// URL) and its first branch. The answer
    carries the project's webhook secret: it is shown this once."""

    class InputSerializer(StrictSerializer):
        repository = serializers.CharField(max_length=500, trim_whitespace=False)
        branch = serializers.CharField(max_length=255, trim_whitespace=False)
        name = serializers.CharField(required=False, max_length=100, help_text="Default: the repository's name.")
        github_token = github_token_field()

    class OutputSerializer(ProjectOutputSerializer):
        webhook_secret = serializers.CharField(
            help_text="HMAC secret for the GitHub webhook. Shown only here; rotate it to get a new one."
        )

        class Meta(ProjectOutputSerializer.Meta):
            ref_name = "ProjectCreated"
            fields = [*ProjectOutputSerializer.Meta.fields, "webhook_secret"]

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 401)},
        tags=["projects"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project_sync = project_link(owner=request.user, new=True, **serializer.validated_data)
        project = _projects(Project.objects.filter(pk=project_sync.project_id)).get()  # with its secret, shown this once
        data = self.OutputSerializer(project, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ProjectScopedApi):
    """One project."""

    @extend_schema(
        parameters=[PROJECT_UUID], responses={200: ProjectOutputSerializer, **error_responses(401, 404)}, tags=["projects"]
    )
    def get(self, request, project_uuid):
        project = _projects(Project.objects.filter(pk=self.project.pk)).get()
        return Response(ProjectOutputSerializer(project, context={"request": request}).data)


class ProjectUpdateApi(ProjectScopedApi):
    """Rename a project, set or remove its repository token (owners)."""

    project_permission = "manage"

    class InputSerializer(StrictSerializer):
        name = serializers.CharField(required=False, max_length=100)
        github_token = github_token_field()

    @extend_schema(
        parameters=[PROJECT_UUID],
        request=InputSerializer,
        responses={200: ProjectOutputSerializer, **error_responses(400, 401, 403, 404)},
        tags=["projects"],
    )
    def patch(self, request, project_uuid):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "github_token" in data:
            services.github_token_validate(data["github_token"])  # before the rename: all or nothing
        if "name" in data:
            services.project_rename(project=self.project, name=data["name"])
        if "github_token" in data:
            services.project_github_token_set(project=self.project, token=data["github_token"])
        project = _projects(Project.objects.filter(pk=self.project.pk)).get()
        return Response(ProjectOutputSerializer(project, context={"request": request}).data)


class ProjectDeleteApi(ProjectScopedApi):
    """Delete a project: it disappears at once and its runs stop, but its embeddings stay until
    it is purged (DELETE /deleted-projects/<uuid>/)."""

    project_permission = "manage"

    @extend_schema(parameters=[PROJECT_UUID], responses={204: None, **error_responses(401, 403, 404)}, tags=["projects"])
    def delete(self, request, project_uuid):
        project_soft_delete(project=self.project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectWebhookSecretCreateApi(ProjectScopedApi):
    """Generate a new webhook secret (the previous one stops working). Shown only in this answer:
    configure it, with the webhook URL and content type application/json, on GitHub."""

    project_permission = "manage"

    class OutputSerializer(serializers.Serializer):
        webhook_secret = serializers.CharField()
        webhook_url = serializers.URLField()

    @extend_schema(
        parameters=[PROJECT_UUID],
        request=None,
        responses={201: OutputSerializer, **error_responses(401, 403, 404)},
        tags=["webhooks"],
    )
    def post(self, request, project_uuid):
        secret = services.project_webhook_secret_rotate(project=self.project)
        url = absolute_url(request, "api:webhook-github-project", project_uuid=self.project.uuid)
        data = {"webhook_secret": secret, "webhook_url": url}
        return Response(self.OutputSerializer(data).data, status=status.HTTP_201_CREATED)


# --- members ------------------------------------------------------------------------------------

USERNAME = OpenApiParameter("username", str, OpenApiParameter.PATH, description="The member's username.")


class MemberOutputSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    creator = serializers.BooleanField(help_text="The project's creator: an owner, not changed or removed here.")
    added_at = serializers.DateTimeField()

    class Meta:
        ref_name = "ProjectMember"


class ProjectMemberListApi(ProjectScopedApi):
    """Who may see the project and their role: its creator first, then its members. Viewers
    search and watch; maintainers also sync and change branches; owners also manage members,
    secrets and the project itself."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[PROJECT_UUID],
        responses={200: MemberOutputSerializer(many=True), **error_responses(400, 401, 404)},
        tags=["members"],
    )
    def get(self, request, project_uuid):
        return paginated_response(self, selectors.project_members(project=self.project), MemberOutputSerializer)


class ProjectMemberAddApi(ProjectScopedApi):
    """Give a user a role in the project (owners)."""

    project_permission = "manage"

    class InputSerializer(StrictSerializer):
        username = serializers.CharField(max_length=150, trim_whitespace=False)
        role = serializers.ChoiceField(choices=Membership.Role.choices)

    @extend_schema(
        parameters=[PROJECT_UUID],
        request=InputSerializer,
        responses={201: MemberOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        tags=["members"],
    )
    def post(self, request, project_uuid):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.project_member_add(project=self.project, actor=request.user, **serializer.validated_data)
        return Response(MemberOutputSerializer(selectors.Member.of(membership)).data, status=status.HTTP_201_CREATED)


class ProjectMemberUpdateApi(ProjectScopedApi):
    """Change a member's role (owners). The last owner cannot step down."""

    project_permission = "manage"

    class InputSerializer(StrictSerializer):
        role = serializers.ChoiceField(choices=Membership.Role.choices)

    @extend_schema(
        parameters=[PROJECT_UUID, USERNAME],
        request=InputSerializer,
        responses={200: MemberOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        tags=["members"],
    )
    def patch(self, request, project_uuid, username):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.project_member_change_role(
            project=self.project, actor=request.user, username=username, role=serializer.validated_data["role"]
        )
        return Response(MemberOutputSerializer(selectors.Member.of(membership)).data)


class ProjectMemberRemoveApi(ProjectScopedApi):
    """Take a member out of the project (owners). The last owner cannot be removed."""

    project_permission = "manage"

    @extend_schema(
        parameters=[PROJECT_UUID, USERNAME], responses={204: None, **error_responses(401, 403, 404, 409)}, tags=["members"]
    )
    def delete(self, request, project_uuid, username):
        services.project_member_remove(project=self.project, actor=request.user, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectBranchesApi(ProjectScopedApi):
    """The branches of the project's repository, default first (GitHub API for GitHub
    repositories, `git ls-remote` for others), each marked if the project syncs it."""

    throttle_classes = (BranchListThrottle,)

    class OutputSerializer(serializers.Serializer):
        class BranchSerializer(serializers.Serializer):
            name = serializers.CharField()
            synced = serializers.BooleanField()

            class Meta:
                ref_name = "RepositoryBranch"

        repository = serializers.CharField()
        default_branch = serializers.CharField(allow_null=True)
        branches = BranchSerializer(many=True)

    @extend_schema(
        parameters=[PROJECT_UUID],
        responses={200: OutputSerializer, **error_responses(400, 401, 404, 429)},
        tags=["projects"],
    )
    def get(self, request, project_uuid):
        # With the project's token or its owner's GitHub connection, each bound to its host.
        listed = project_repository_branches(self.project)
        synced = set(self.project.syncs.values_list("branch", flat=True))
        data = {
            "repository": listed.repository,
            "default_branch": listed.default,
            "branches": [{"name": name, "synced": name in synced} for name in listed.names],
        }
        return Response(self.OutputSerializer(data).data)


class ProjectEventsApi(ProjectScopedApi):
    """Where to follow the project's runs live: a Server-Sent Events stream (`run` events)."""

    class OutputSerializer(serializers.Serializer):
        channel = serializers.CharField()
        url = serializers.URLField(help_text="Open with EventSource (session) or any SSE client.")

    @extend_schema(parameters=[PROJECT_UUID], responses={200: OutputSerializer, **error_responses(401, 404)}, tags=["projects"])
    def get(self, request, project_uuid):
        data = {"channel": project_channel(self.project.uuid), "url": request.build_absolute_uri(events_path(self.project))}
        return Response(self.OutputSerializer(data).data)


class DeletedProjectOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        ref_name = "DeletedProject"
        fields = ["uuid", "name", "repository", "created_at", "deleted_at"]


class DeletedProjectListApi(BaseApi):
    """Deleted projects whose embeddings are kept until purged."""

    pagination_class = Pagination

    @extend_schema(
        responses={200: DeletedProjectOutputSerializer(many=True), **error_responses(400, 401)}, tags=["projects"]
    )
    def get(self, request):
        projects = selectors.deleted_projects_for_user(request.user).order_by("-deleted_at", "pk")
        return paginated_response(self, projects, DeletedProjectOutputSerializer)


class DeletedProjectPurgeApi(BaseApi):
    """Purge a deleted project: its branches, files, chunks and runs are removed for good."""

    @extend_schema(
        parameters=[PROJECT_UUID], responses={204: None, **error_responses(401, 403, 404, 409)}, tags=["projects"]
    )
    def delete(self, request, project_uuid):
        project = selectors.deleted_project_get_for_user(request.user, uuid=project_uuid)
        if project is None:
            raise exceptions.NotFound("no such deleted project")
        if not permissions.can_manage(request.user, project):
            raise exceptions.PermissionDenied("you may not manage this project")
        project_purge(project=project)  # SyncConflict: 409, by the one handler
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- GitHub webhook -----------------------------------------------------------------------------


WEBHOOK_HEADERS = [
    OpenApiParameter("X-GitHub-Event", str, OpenApiParameter.HEADER, required=True, pattern=r"^[a-z_]{1,50}$"),
    OpenApiParameter("X-GitHub-Delivery", str, OpenApiParameter.HEADER, required=True, pattern=r"^[A-Za-z0-9-]{1,100}$"),
    OpenApiParameter(
        "X-Hub-Signature-256",
        str,
        OpenApiParameter.HEADER,
        required=True,
        pattern=r"^sha256=[0-9a-f]{64}$",
        description="HMAC-SHA256 of the raw body with the project's webhook secret, hex.",
    ),
]


def webhook_responses(output) -> dict:
    return {
        200: OpenApiResponse(output, description="Verified; nothing to do (pong, ignored, duplicate)."),
        202: OpenApiResponse(output, description="Verified; a sync was queued."),
        **error_responses(400, 403, 413, 415),
    }


class GithubWebhookApi(BaseApi):
    """GitHub push webhook (content type application/json), at the project's own URL
    (`/api/v1/webhooks/github/<project uuid>/`; the shared `/api/v1/webhooks/github/` serves only
    hooks set up before per-project URLs). Authenticated by `X-Hub-Signature-256`, the HMAC-SHA256
    of the body with the project's webhook secret. `ping` answers pong; `push` to
    a synced branch queues a sync (coalesced with any waiting run); other events are ignored;
    a replayed `X-GitHub-Delivery` changes nothing."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    renderer_classes = (JSONRenderer,)

    class OutputSerializer(serializers.Serializer):
        event = serializers.CharField()
        delivery = serializers.CharField()
        result = serializers.ChoiceField(choices=["pong", "queued", "ignored", "duplicate"])
        detail = serializers.CharField()
        runs = serializers.ListField(child=serializers.UUIDField())

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=WEBHOOK_HEADERS,
        responses=webhook_responses(OutputSerializer),
        auth=[],
        tags=["webhooks"],
    )
    def post(self, request, project_uuid: str | None = None):
        body = self._read_body(MAX_BODY_BYTES)
        outcome = github_delivery_handle(
            event=request.headers.get("X-GitHub-Event", ""),
            delivery_id=request.headers.get("X-GitHub-Delivery", ""),
            signature=request.headers.get("X-Hub-Signature-256", ""),
            content_type=request.content_type or "",
            body=body,
            project_uuid=project_uuid,
        )
        code = status.HTTP_202_ACCEPTED if outcome.result == "queued" else status.HTTP_200_OK
        return Response(self.OutputSerializer(outcome).data, status=code)

    def _read_body(self, limit: int) -> bytes:
        """At most `limit` bytes: a declared length over it is refused before anything is read,
        and a body longer than declared is never read past limit + 1."""
        try:
            declared = int(self.request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ApiError("invalid Content-Length", code="webhook_body_invalid") from None
        if declared > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        stream = self.request.stream  # DRF: the raw request, or None when there is no body
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        return body


class GithubProjectWebhookApi(GithubWebhookApi):
    """The project's own webhook URL: a delivery is verified with this project's secret only."""

    @extend_schema(
        parameters=[PROJECT_UUID, *WEBHOOK_HEADERS],
        request={"application/json": OpenApiTypes.OBJECT},
        responses=webhook_responses(GithubWebhookApi.OutputSerializer),
        auth=[],
        tags=["webhooks"],
    )
    def post(self, request, project_uuid: str):
        return super().post(request, project_uuid=project_uuid)
