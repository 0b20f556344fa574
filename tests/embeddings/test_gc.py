import pytest
from django.core.management import call_command
from django.db import connection

from embeddings.models import Vector
from tests.factories import ChunkFactory, VectorFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def age(vector, days):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE embeddings_vector SET created_at = now() - make_interval(days => %s) WHERE id = %s", [days, vector.pk])


def test_it_deletes_only_old_vectors_no_chunk_of_their_tenant_refers_to(capsys):
    chunk = ChunkFactory()
    used = VectorFactory(content_hash=chunk.content_hash, tenant=chunk.project.owner)
    # Another tenant's copy of the same text: no chunk of that tenant refers to it any more.
    foreign_copy = VectorFactory(content_hash=chunk.content_hash)
    orphan_old, orphan_new = VectorFactory(), VectorFactory()
    for vector in (used, foreign_copy, orphan_old):
        age(vector, 30)

    call_command("gc_vectors", dry_run=True)
    assert "Would delete 2 unreferenced vectors." in capsys.readouterr().out
    assert Vector.objects.count() == 4

    call_command("gc_vectors")
    assert set(Vector.objects.values_list("pk", flat=True)) == {used.pk, orphan_new.pk}
