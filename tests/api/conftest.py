"""Fixtures for API tests: token-authenticated clients for the personas, and their projects."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from syncs.models import ProjectSync, SyncRun
from tests.factories import ProjectFactory, ProjectSyncFactory, api_key_for


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counters live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
    return client


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def api(owner):
    """The owner, with an API token."""
    return client_for(owner)


@pytest.fixture
def outsider_api(outsider):
    return client_for(outsider)


@pytest.fixture
def project(owner):
    return ProjectFactory(owner=owner, name="demo", repository="octo/demo")


@pytest.fixture
def project_sync(project) -> ProjectSync:
    return ProjectSyncFactory(project=project, repository_url="https://github.com/octo/demo.git", branch="main")


@pytest.fixture
def foreign_sync(outsider) -> ProjectSync:
    return ProjectSyncFactory(project=ProjectFactory(owner=outsider, name="theirs", repository="them/theirs"))


def runs_of(project_sync) -> list[SyncRun]:
    return list(SyncRun.objects.filter(project_sync=project_sync).order_by("created_at"))
