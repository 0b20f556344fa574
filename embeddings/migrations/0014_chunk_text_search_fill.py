"""Chunks store their full-text vector (step 2 of 3): fill it for the chunks written before, with
the expression the pipeline writes (embeddings.manifest.TEXT_SEARCH_SQL, copied here as it is
today: a migration must not change when the app does).

atomic = False, in id ranges of BATCH chunks, each its own short transaction; only rows still
without a value are written, so an interrupted run goes on where it stopped. Chunks written by
code that predates the column while this runs (stop old workers first) are caught by a last pass
up to the highest id."""

from django.db import migrations, transaction

BATCH = 5000
EXPRESSION = "to_tsvector('simple'::regconfig, regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))"


def fill(apps, schema_editor):
    connection = schema_editor.connection
    start = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) FROM embeddings_chunk")
            highest = cursor.fetchone()[0] or 0
        if start >= highest:
            return
        while start < highest:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE embeddings_chunk SET text_search = {EXPRESSION} WHERE id > %s AND id <= %s AND text_search IS NULL",
                    [start, start + BATCH],
                )
            start += BATCH


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("embeddings", "0013_chunk_text_search")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
