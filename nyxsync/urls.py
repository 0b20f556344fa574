from django.contrib import admin
from django.urls import include, path

from nyxsync.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/", include("nyxsync.api_urls")),
    path("", include("nyxsync.web_urls")),
]
