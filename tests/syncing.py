"""Sync fixtures for any test: a fast real embedding model, linking a served repository, and
syncing it in process."""

import pytest

from nyxsync import tenancy
from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute


@pytest.fixture
def fast_model(settings):
    """hashing-256: a real (deterministic, lexical) model that embeds thousands of chunks a second."""
    settings.NYXSYNC_EMBEDDING_MODEL = "hashing-256"
    return "hashing-256"


@pytest.fixture
def hashing_index(owner_sql, fast_model):
    """hashing-256 registered, with its HNSW index as migrate builds it (the app's role may not)."""
    from embeddings.backends import get_backend
    from embeddings.vectors import embedding_model_register, vector_index_definition, vector_index_name

    backend = get_backend(fast_model)
    model = embedding_model_register(name=backend.name, backend=backend.backend, dimensions=backend.dimensions)
    owner_sql(f"CREATE INDEX IF NOT EXISTS {vector_index_name(model)} {vector_index_definition(model)}")
    return model


@pytest.fixture
def sync_now(git_cache, fast_model):
    """sync_now(project_sync) -> SyncRun: trigger and run one sync in this process, acting for
    the branch's project as a task does."""

    def run(project_sync) -> SyncRun:
        with tenancy.acting_for_project(project_sync.project_id):
            run, created = services.sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
            assert created
            return sync_run_execute(run.pk)

    return run


@pytest.fixture
def link(owner):
    """link(repo, branch="main", name=None, user=None) -> ProjectSync owned by `owner` (or
    `user`), linked acting for that user, as the link page does."""

    def make(repo, branch: str = "main", name: str | None = None, user=None):
        with tenancy.acting_as(user or owner):
            return services.project_link(owner=user or owner, repository=repo.url, branch=branch, name=name or repo.name)

    return make
