import pytest
from django.core.management import call_command
from django.db import connection

from embeddings.models import Vector
from tests.factories import ChunkFactory, VectorFactory

pytestmark = pytest.mark.django_db


def age(vector, days):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE embeddings_vector SET created_at = now() - make_interval(days => %s) WHERE id = %s", [days, vector.pk])


def test_it_deletes_only_old_vectors_no_chunk_refers_to(capsys):
    chunk = ChunkFactory()
    used = VectorFactory(content_hash=chunk.content_hash)
    orphan_old, orphan_new = VectorFactory(), VectorFactory()
    age(used, 30)
    age(orphan_old, 30)

    call_command("gc_vectors", dry_run=True)
    assert "Would delete 1 unreferenced vectors." in capsys.readouterr().out
    assert Vector.objects.count() == 3

    call_command("gc_vectors")
    assert set(Vector.objects.values_list("pk", flat=True)) == {used.pk, orphan_new.pk}
