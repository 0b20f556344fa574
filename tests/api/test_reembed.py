"""Model change through the API: the same function as the command and the admin action."""

import pytest

from syncs.models import SyncRun
from tests.api.test_access import assert_error
from tests.factories import ProjectSyncFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def url(sync) -> str:
    return f"/api/v1/projects/{sync.project.uuid}/syncs/{sync.uuid}/reembed/"


def test_it_queues_a_model_change(api, owner):
    sync = ProjectSyncFactory(project__owner=owner, embedding_model="hashing-256")
    response = api.post(url(sync), {"model": "all-MiniLM-L6-v2"}, format="json")
    assert response.status_code == 202, response.content
    run = SyncRun.objects.get(uuid=response.json()["uuid"])
    assert (run.trigger, run.embedding_model, run.status) == ("reembed", "all-MiniLM-L6-v2", "queued")
    sync.refresh_from_db()
    assert sync.embedding_model == "hashing-256"  # the old model stays live until the swap


def test_an_unknown_model_is_a_400_and_queues_nothing(api, owner):
    sync = ProjectSyncFactory(project__owner=owner)
    response = api.post(url(sync), {"model": "no-such-model"}, format="json")
    assert_error(response, 400)
    assert response.json()["code"] == "unknown_model"  # the service's DomainError, through the API's one handler
    assert "unknown embedding model" in response.json()["message"]
    assert not SyncRun.objects.exists()


def test_another_user_s_branch_is_a_404(outsider_api, owner):
    sync = ProjectSyncFactory(project__owner=owner)
    assert_error(outsider_api.post(url(sync), {"model": "hashing-256"}, format="json"), 404)
