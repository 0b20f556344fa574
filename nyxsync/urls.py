from django.contrib import admin
from django.urls import include, path

from nyxsync.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("", include("nyxsync.web_urls")),
]
