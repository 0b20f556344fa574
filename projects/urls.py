from django.urls import path

from projects import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("projects/state/", views.project_list_state, name="list_state"),
    path("projects/link/", views.project_link, name="link"),
    path("projects/branches/", views.repository_branches_json, name="branches"),
    path("projects/<uuid:project>/", views.project_detail, name="detail"),
    path("projects/<uuid:project>/state/", views.project_state, name="state"),
    path("projects/<uuid:project>/dashboard/", views.project_dashboard, name="dashboard"),
    path("projects/<uuid:project>/members/", views.project_member_add, name="member_add"),
    path("projects/<uuid:project>/members/<str:username>/role/", views.project_member_change, name="member_change"),
    path("projects/<uuid:project>/members/<str:username>/remove/", views.project_member_remove, name="member_remove"),
    path("projects/<uuid:project>/token/", views.project_github_token, name="github_token"),
]
