"""REST API (v1): the synced branches of a project and their runs. See projects.apis for the
conventions (per-operation views, ProjectScopedApi as the tenancy gate)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from nyxsync.api import (
    PROJECT_UUID,
    RETRY_AFTER,
    Pagination,
    QuerySerializer,
    StrictSerializer,
    SyncTriggerThrottle,
    paginated_response,
    query_filters,
)
from nyxsync.api_errors import ApiError, error_responses
from projects.api import ProjectScopedApi
from syncs import selectors, services
from syncs.models import ProjectSync, SyncRun

SYNC_UUID = OpenApiParameter("sync_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)
RUN_UUID = OpenApiParameter("run_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)


class ProjectSyncScopedApi(ProjectScopedApi):
    """A view under /projects/<project_uuid>/syncs/<sync_uuid>/: the branch must be the project's."""

    project_sync: ProjectSync

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        project_sync = selectors.project_sync_get(project=self.project, uuid=kwargs.get("sync_uuid"))
        if project_sync is None:
            raise exceptions.NotFound("no such branch")
        self.project_sync = project_sync


class ProjectSyncOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProjectSync
        ref_name = "ProjectSync"
        fields = [
            "uuid", "branch", "repository_url", "live_commit", "embedding_model", "auto_sync",
            "auto_sync_interval_minutes", "last_synced_at", "last_checked_at", "next_check_at", "created_at",
            "updated_at",
        ]  # fmt: skip


def _interval_field(**kwargs):
    return serializers.IntegerField(
        allow_null=True, min_value=1, max_value=services.MAX_AUTO_SYNC_INTERVAL_MINUTES, **kwargs
    )


class ProjectSyncListApi(ProjectScopedApi):
    """The project's synced branches."""

    pagination_class = Pagination

    class FilterSerializer(QuerySerializer):
        ordering = serializers.ChoiceField(
            required=False, default="branch", choices=["branch", "-branch", "created_at", "-created_at"]
        )

    @extend_schema(
        parameters=[PROJECT_UUID, FilterSerializer],
        responses={200: ProjectSyncOutputSerializer(many=True), **error_responses(400, 401, 404)},
        tags=["syncs"],
    )
    def get(self, request, project_uuid):
        filters = query_filters(request, self.FilterSerializer)
        project_syncs = selectors.project_sync_list(projects=[self.project], ordering=filters["ordering"])
        return paginated_response(self, project_syncs, ProjectSyncOutputSerializer)


class ProjectSyncCreateApi(ProjectScopedApi):
    """Sync one more branch of the project's repository (with scheduled syncs, if asked)."""

    project_permission = "sync"

    class InputSerializer(StrictSerializer):
        branch = serializers.CharField(max_length=255, trim_whitespace=False)
        auto_sync = serializers.BooleanField(required=False, default=False)
        auto_sync_interval_minutes = _interval_field(required=False, default=None)

    @extend_schema(
        parameters=[PROJECT_UUID],
        request=InputSerializer,
        responses={201: ProjectSyncOutputSerializer, **error_responses(400, 401, 403, 404)},
        tags=["syncs"],
    )
    def post(self, request, project_uuid):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project_sync = services.project_sync_add(project=self.project, **serializer.validated_data)
        return Response(ProjectSyncOutputSerializer(project_sync).data, status=status.HTTP_201_CREATED)


class ProjectSyncDetailApi(ProjectSyncScopedApi):
    """One synced branch."""

    @extend_schema(
        parameters=[PROJECT_UUID, SYNC_UUID],
        responses={200: ProjectSyncOutputSerializer, **error_responses(401, 404)},
        tags=["syncs"],
    )
    def get(self, request, project_uuid, sync_uuid):
        return Response(ProjectSyncOutputSerializer(self.project_sync).data)


class ProjectSyncUpdateApi(ProjectSyncScopedApi):
    """Scheduled syncs of the branch: every `auto_sync_interval_minutes` the branch head is
    compared with the live commit (cheaply) and a sync runs only if it moved."""

    project_permission = "sync"

    class InputSerializer(StrictSerializer):
        auto_sync = serializers.BooleanField(required=False)
        auto_sync_interval_minutes = _interval_field(required=False)

    @extend_schema(
        parameters=[PROJECT_UUID, SYNC_UUID],
        request=InputSerializer,
        responses={200: ProjectSyncOutputSerializer, **error_responses(400, 401, 403, 404)},
        tags=["syncs"],
    )
    def patch(self, request, project_uuid, sync_uuid):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = {
            "auto_sync": self.project_sync.auto_sync,
            "auto_sync_interval_minutes": self.project_sync.auto_sync_interval_minutes,
            **serializer.validated_data,
        }
        project_sync = services.project_sync_update_schedule(project_sync=self.project_sync, **schedule)
        return Response(ProjectSyncOutputSerializer(project_sync).data)


class ProjectSyncDeleteApi(ProjectSyncScopedApi):
    """Stop syncing the branch and delete its files, chunks and runs. Refused (409) while one of
    its runs is going: cancel it first."""

    project_permission = "sync"

    @extend_schema(
        parameters=[PROJECT_UUID, SYNC_UUID],
        responses={204: None, **error_responses(401, 403, 404, 409)},
        tags=["syncs"],
    )
    def delete(self, request, project_uuid, sync_uuid):
        services.project_sync_remove(project_sync=self.project_sync)  # SyncConflict: 409, by the one handler
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- runs ---------------------------------------------------------------------------------------


class SyncRunOutputSerializer(serializers.ModelSerializer):
    sync = serializers.UUIDField(source="project_sync.uuid")
    branch = serializers.CharField(source="project_sync.branch")
    cancel_requested = serializers.SerializerMethodField()
    error_phase = serializers.CharField(help_text="The phase a failed or cancelled run stopped in; empty otherwise.")

    class Meta:
        model = SyncRun
        ref_name = "SyncRun"
        fields = [
            "uuid", "sync", "branch", "trigger", "status", "phase", "embedding_model", "commit_before",
            "commit_after", "files_seen", "files_changed", "files_deleted", "files_skipped", "skipped_by_reason",
            "chunks_embedded", "chunks_reused", "chunks_deleted", "progress_done", "progress_total", "error",
            "error_phase", "cancel_requested", "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def get_cancel_requested(self, run) -> bool:
        return run.cancel_requested_at is not None


class SyncRunCreateApi(ProjectSyncScopedApi):
    """Sync the branch now. While a run waits, triggers coalesce into it (`coalesced: true`):
    it fetches the newest commit when it starts."""

    project_permission = "sync"
    throttle_classes = (SyncTriggerThrottle,)

    class OutputSerializer(SyncRunOutputSerializer):
        coalesced = serializers.BooleanField()

        class Meta(SyncRunOutputSerializer.Meta):
            ref_name = "SyncRunTriggered"
            fields = [*SyncRunOutputSerializer.Meta.fields, "coalesced"]

    @extend_schema(
        parameters=[PROJECT_UUID, SYNC_UUID, RETRY_AFTER],
        request=None,
        responses={202: OutputSerializer, **error_responses(401, 403, 404, 429)},
        tags=["runs"],
    )
    def post(self, request, project_uuid, sync_uuid):
        run, created = services.sync_run_enqueue(
            project_sync=self.project_sync, trigger=SyncRun.Trigger.API, requested_by=request.user
        )
        run.coalesced = not created
        return Response(self.OutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SyncReembedApi(ProjectSyncScopedApi):
    """Move the branch to another embedding model without downtime: a run builds the new model's
    vectors beside the old ones, search keeps the old model until one swap makes the new one
    live. Cancel or failure leaves the old model live."""

    project_permission = "sync"
    throttle_classes = (SyncTriggerThrottle,)

    class InputSerializer(StrictSerializer):
        model = serializers.CharField(max_length=200, help_text="e.g. all-MiniLM-L6-v2, hashing-256, openai:text-embedding-3-small")

    @extend_schema(
        parameters=[PROJECT_UUID, SYNC_UUID, RETRY_AFTER],
        request=InputSerializer,
        responses={202: SyncRunCreateApi.OutputSerializer, **error_responses(400, 401, 403, 404, 429)},
        tags=["runs"],
    )
    def post(self, request, project_uuid, sync_uuid):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # An unknown model is services.UnknownModel, a DomainError: the API's handler renders it.
        run, created = services.project_sync_reembed(
            project_sync=self.project_sync, model_name=serializer.validated_data["model"], requested_by=request.user
        )
        run.coalesced = not created
        return Response(SyncRunCreateApi.OutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SyncRunListApi(ProjectScopedApi):
    """Runs of the project's branches, newest first."""

    pagination_class = Pagination

    class FilterSerializer(QuerySerializer):
        sync = serializers.UUIDField(required=False, help_text="Only this branch's runs (its sync uuid).")
        branch = serializers.CharField(required=False, max_length=255, trim_whitespace=False)
        status = serializers.ChoiceField(required=False, choices=SyncRun.Status.choices)
        trigger = serializers.ChoiceField(required=False, choices=SyncRun.Trigger.choices)
        ordering = serializers.ChoiceField(
            required=False, default="-created_at", choices=["created_at", "-created_at", "finished_at", "-finished_at"]
        )

    @extend_schema(
        parameters=[PROJECT_UUID, FilterSerializer],
        responses={200: SyncRunOutputSerializer(many=True), **error_responses(400, 401, 404)},
        tags=["runs"],
    )
    def get(self, request, project_uuid):
        filters = query_filters(request, self.FilterSerializer)
        runs = selectors.sync_run_list(
            project=self.project, limit=None, project_sync_uuid=filters.get("sync"), branch=filters.get("branch"),
            status=filters.get("status"), trigger=filters.get("trigger"), ordering=filters["ordering"],
        )  # fmt: skip
        return paginated_response(self, runs, SyncRunOutputSerializer)


class SyncRunDetailApi(ProjectScopedApi):
    """One run, with its phase, progress and counters."""

    @extend_schema(
        parameters=[PROJECT_UUID, RUN_UUID],
        responses={200: SyncRunOutputSerializer, **error_responses(401, 404)},
        tags=["runs"],
    )
    def get(self, request, project_uuid, run_uuid):
        run = selectors.sync_run_get(project=self.project, uuid=run_uuid)
        if run is None:
            raise exceptions.NotFound("no such run")
        return Response(SyncRunOutputSerializer(run).data)


class SyncRunCancelApi(ProjectScopedApi):
    """Cancel a run: a waiting one at once; a running one stops at its next checkpoint
    (`cancel_requested`) and the live snapshot stays as it was. A finished run is 409."""

    project_permission = "sync"

    @extend_schema(
        parameters=[PROJECT_UUID, RUN_UUID],
        request=None,
        responses={200: SyncRunOutputSerializer, **error_responses(401, 403, 404, 409)},
        tags=["runs"],
    )
    def post(self, request, project_uuid, run_uuid):
        run = selectors.sync_run_get(project=self.project, uuid=run_uuid)
        if run is None:
            raise exceptions.NotFound("no such run")
        cancel = services.sync_run_cancel(run)
        if cancel.outcome == services.Cancel.FINISHED and cancel.run.status != SyncRun.Status.CANCELLED:
            raise ApiError(f"the run has already finished ({cancel.run.status})", code="conflict", status_code=status.HTTP_409_CONFLICT)
        return Response(SyncRunOutputSerializer(cancel.run).data)
