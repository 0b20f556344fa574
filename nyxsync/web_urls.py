"""The web pages, their small JSON endpoints and the live streams (included from nyxsync.urls)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from embeddings import views as embeddings_views
from repositories import views as repositories_views
from syncs import views as syncs_views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", repositories_views.account, name="account"),
    path("account/github/connect/", repositories_views.github_connect, name="github_connect"),
    path("account/github/callback/", repositories_views.github_callback, name="github_callback"),
    path("account/github/disconnect/", repositories_views.github_disconnect, name="github_disconnect"),
    path("account/github/repositories/", repositories_views.github_repositories, name="github_repositories"),
    path("", include("projects.urls")),
    path("projects/<uuid:project>/search/", embeddings_views.search_page, name="search"),
    path("branches/<uuid:sync>/sync/", syncs_views.branch_sync, name="branch_sync"),
    path("runs/<uuid:run>/cancel/", syncs_views.run_cancel, name="run_cancel"),
    path("runs/<uuid:run>/state/", syncs_views.run_state, name="run_state"),
    # Server-Sent Events (django-eventstream behind our 403 gate; see syncs.views._stream).
    path("events/projects/", syncs_views.project_events, name="project_events"),
    path("events/operators/", syncs_views.operator_events, name="operator_events"),
]
