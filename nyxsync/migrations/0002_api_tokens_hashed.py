"""API tokens move from DRF's authtoken table (keys stored in plain text) to django-rest-knox's
(a SHA-512 digest of each key): every existing key keeps working, and no key stays readable in the
database. Raw SQL on authtoken_token, because the authtoken app is no longer installed (its table
stays, empty). Re-runnable: a key already moved is not moved twice."""

from django.db import migrations

BATCH = 500


def move_plain_tokens(apps, schema_editor):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return  # a database made after the move
    AuthToken = apps.get_model("knox", "AuthToken")
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT key, user_id, created FROM authtoken_token ORDER BY key LIMIT %s", [BATCH])
            rows = cursor.fetchall()
            if not rows:
                return
            for key, user_id, created in rows:
                digest = hash_token(key)
                if not AuthToken.objects.filter(digest=digest).exists():
                    token = AuthToken.objects.create(
                        digest=digest, token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH], user_id=user_id, expiry=None
                    )
                    AuthToken.objects.filter(pk=token.pk).update(created=created)
            cursor.execute("DELETE FROM authtoken_token WHERE key = ANY(%s)", [[row[0] for row in rows]])


class Migration(migrations.Migration):
    atomic = False  # each batch commits on its own (a large table moves in steps)

    dependencies = [
        ("nyxsync", "0001_row_level_security"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(move_plain_tokens, migrations.RunPython.noop)]
