"""REST API (v1): semantic search over the live snapshots of the caller's branches. See
projects.apis for the conventions."""

from __future__ import annotations

import logging

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from embeddings.search import MAX_K, MAX_QUERY_CHARS, search
from nyxsync.api import (
    RETRY_AFTER,
    BaseApi,
    SearchThrottle,
    StrictSerializer,
)
from nyxsync.api_errors import ApiError, error_responses
from syncs.selectors import project_syncs_to_search

logger = logging.getLogger(__name__)


class SearchApi(BaseApi):
    """The chunks that best match `query` in the live snapshots of your branches (one project,
    one branch name, or all; optionally one path glob and language), best first: meaning
    (vectors), words and definitions, fused. Branches never synced have nothing to find yet."""

    throttle_classes = (SearchThrottle,)

    class InputSerializer(StrictSerializer):
        query = serializers.CharField(max_length=MAX_QUERY_CHARS)
        k = serializers.IntegerField(required=False, default=10, min_value=1, max_value=MAX_K)
        project = serializers.UUIDField(required=False, help_text="Only this project.")
        branch = serializers.CharField(required=False, max_length=255, trim_whitespace=False, help_text="Only branches of this name.")
        path = serializers.CharField(
            required=False, max_length=300, trim_whitespace=False, help_text="Only files matching this glob (`src/**/*.py`)."
        )
        language = serializers.CharField(required=False, max_length=32, help_text="Only files of this language (`python`).")

    class OutputSerializer(serializers.Serializer):
        class HitSerializer(serializers.Serializer):
            project = serializers.UUIDField()
            sync = serializers.UUIDField()
            branch = serializers.CharField()
            path = serializers.CharField()
            start_line = serializers.IntegerField()
            end_line = serializers.IntegerField()
            score = serializers.FloatField()
            text = serializers.CharField(trim_whitespace=False)
            commit = serializers.CharField()

            class Meta:
                ref_name = "SearchHit"

        results = HitSerializer(many=True)

    @extend_schema(
        parameters=[RETRY_AFTER],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 404, 429, 503)},
        tags=["search"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        params = serializer.validated_data
        project_syncs = project_syncs_to_search(request.user, project_uuid=params.get("project"), branch=params.get("branch"))
        if project_syncs is None:
            raise exceptions.NotFound("no such project")
        by_id = {project_sync.pk: project_sync for project_sync in project_syncs}
        hits = self._search(
            list(by_id.values()), params["query"], params["k"], path_glob=params.get("path"), language=params.get("language")
        )
        results = [
            {
                "project": by_id[hit.project_sync_id].project.uuid,
                "sync": by_id[hit.project_sync_id].uuid,
                "branch": hit.branch,
                "path": hit.path,
                "start_line": hit.start_line,
                "end_line": hit.end_line,
                "score": hit.score,
                "text": hit.text,
                "commit": hit.commit,
            }
            for hit in hits
        ]
        return Response(self.OutputSerializer({"results": results}).data)

    @staticmethod
    def _search(project_syncs, query: str, k: int, **filters):
        from embeddings.backends import EmbeddingError

        try:
            return search(project_syncs=project_syncs, query=query, k=k, **filters)
        except EmbeddingError as exc:
            logger.warning("search.embedding_failed", extra={"permanent": exc.permanent}, exc_info=True)
            raise ApiError(
                "the embedding backend is not available; try again later",
                code="search_unavailable",
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            ) from None
