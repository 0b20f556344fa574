"""URLs of the REST API (mounted at /api/): v1 endpoints, the OpenAPI schema and its docs.

Each operation is its own view class; `methods()` (projects.apis) puts the operations of one URL
together (GET list + POST create on /projects/, ...).
"""

from csp.decorators import csp_update
from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from embeddings import apis as embeddings_apis
from nyxsync.api import methods
from projects import apis as projects_apis
from syncs import apis as syncs_apis

app_name = "api"


def not_found(request, *args, **kwargs):
    """Any other /api/ address: the API's own 404 body, not an HTML page."""
    return JsonResponse({"code": "not_found", "message": "no such API endpoint", "fields": {}}, status=404)


P = "projects/<str:project_uuid>"

v1 = [
    path("auth/token/", methods(post=projects_apis.ApiTokenCreateApi, delete=projects_apis.ApiTokenDeleteApi), name="token"),
    path("projects/", methods(get=projects_apis.ProjectListApi, post=projects_apis.ProjectCreateApi), name="projects"),
    path(
        f"{P}/",
        methods(
            get=projects_apis.ProjectDetailApi, patch=projects_apis.ProjectUpdateApi, delete=projects_apis.ProjectDeleteApi
        ),
        name="project",
    ),
    path(f"{P}/branches/", projects_apis.ProjectBranchesApi.as_view(), name="project-branches"),
    path(f"{P}/events/", projects_apis.ProjectEventsApi.as_view(), name="project-events"),
    path(f"{P}/webhook-secret/", projects_apis.ProjectWebhookSecretCreateApi.as_view(), name="project-webhook-secret"),
    path(f"{P}/members/", methods(get=projects_apis.ProjectMemberListApi, post=projects_apis.ProjectMemberAddApi), name="members"),
    path(
        f"{P}/members/<str:username>/",
        methods(patch=projects_apis.ProjectMemberUpdateApi, delete=projects_apis.ProjectMemberRemoveApi),
        name="member",
    ),
    path(f"{P}/syncs/", methods(get=syncs_apis.ProjectSyncListApi, post=syncs_apis.ProjectSyncCreateApi), name="syncs"),
    path(
        f"{P}/syncs/<str:sync_uuid>/",
        methods(get=syncs_apis.ProjectSyncDetailApi, patch=syncs_apis.ProjectSyncUpdateApi, delete=syncs_apis.ProjectSyncDeleteApi),
        name="sync",
    ),
    path(f"{P}/syncs/<str:sync_uuid>/runs/", syncs_apis.SyncRunCreateApi.as_view(), name="sync-runs"),
    path(f"{P}/syncs/<str:sync_uuid>/reembed/", syncs_apis.SyncReembedApi.as_view(), name="sync-reembed"),
    path(f"{P}/runs/", syncs_apis.SyncRunListApi.as_view(), name="runs"),
    path(f"{P}/runs/<str:run_uuid>/", syncs_apis.SyncRunDetailApi.as_view(), name="run"),
    path(f"{P}/runs/<str:run_uuid>/cancel/", syncs_apis.SyncRunCancelApi.as_view(), name="run-cancel"),
    path("deleted-projects/", projects_apis.DeletedProjectListApi.as_view(), name="deleted-projects"),
    path("deleted-projects/<str:project_uuid>/", projects_apis.DeletedProjectPurgeApi.as_view(), name="deleted-project"),
    path("search/", embeddings_apis.SearchApi.as_view(), name="search"),
    path("webhooks/github/<str:project_uuid>/", projects_apis.GithubProjectWebhookApi.as_view(), name="webhook-github-project"),
    # Hooks set up before per-project URLs (Project.webhook_shared_url).
    path("webhooks/github/", projects_apis.GithubWebhookApi.as_view(), name="webhook-github"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The script of Swagger UI comes from its own URL (?script), so the page needs no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    # Redoc builds its styles at run time (style elements) and shows its makers' logo from their
    # site: both allowed on this page only.
    path("redoc/", csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["https://cdn.redoc.ly"]})(SpectacularRedocView.as_view(url_name="api:schema")), name="redoc"),
    re_path(r"^.*$", not_found),
]
