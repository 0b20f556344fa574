"""The vector store and the fan-out's batches: writes and lookups cost a fixed number of queries
whatever the batch size (no query per hash)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from embeddings.backends import get_backend
from embeddings.fanout import batch_claim, batch_process, batches_create
from embeddings.models import EmbeddingModel, Vector
from embeddings.vectors import embedding_model_register
from nyxsync import tenancy
from tests.factories import ChunkFactory, SourceFileFactory, SyncRunFactory

pytestmark = pytest.mark.django_db


def hashing_model() -> EmbeddingModel:
    backend = get_backend("hashing-256")
    return embedding_model_register(name=backend.name, backend=backend.backend, dimensions=backend.dimensions)


@pytest.mark.parametrize("size", [3, 300])
def test_a_fanned_out_batch_costs_the_same_queries_at_any_size(size):
    run = SyncRunFactory()
    file = SourceFileFactory(project_sync=run.project_sync)
    hashes = [chunk.content_hash for chunk in ChunkFactory.create_batch(size, file=file)]
    model = hashing_model()
    with tenancy.acting_for_project(run.project_sync.project_id):  # as the run's worker does
        batches_create(run, model, hashes, size=size)
        batch = batch_claim(run.pk)

        with CaptureQueriesContext(connection) as queries:
            assert batch_process(batch, get_backend("hashing-256")) == size

        assert Vector.objects.filter(model=model).count() == size
    assert len(queries) <= 10, [query["sql"][:80] for query in queries]
