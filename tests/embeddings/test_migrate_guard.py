"""`manage.py migrate` end to end, in a subprocess against a scratch database: the incident that
started nyxsync, and the refusals that prevent it."""

import shutil
import textwrap
import uuid

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.commands import error_lines, manage
from tests.factories import sha256, unit_vector
from tests.workers import database_url


@pytest.fixture
def scratch_db(django_db_blocker):
    """A new, empty database on the test server, dropped afterwards."""
    params = connection.settings_dict
    # The owner role makes the database and writes to it directly (the app's role could not
    # write past row-level security, nor create in a database it does not own).
    owner = (settings.NYXSYNC_MIGRATION_DATABASE or {}).get("USER") or params["USER"]
    server = {"host": params["HOST"], "user": owner, "password": params["PASSWORD"] or None, "port": params["PORT"] or None}
    name = f"guard_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    from nyxsync import embedded

    yield {
        "url": database_url(name),
        "owner_url": embedded.database_url(host=params["HOST"], name=name, user=owner, password=params["PASSWORD"] or "", port=params["PORT"] or ""),
        "connect": {"dbname": name, **server},
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def project_dir(tmp_path):
    """A settings module that can swap in extra migrations: `add_embeddings_migration(name, body)`
    copies the real embeddings migrations beside a new one; `add_app(name, migrations)` installs an
    extra app."""
    extra_apps: list[str] = []
    modules: dict[str, str] = {}

    def write_settings():
        (tmp_path / "guard_settings.py").write_text(
            "from nyxsync.settings.test import *\n"
            f"INSTALLED_APPS = [*INSTALLED_APPS, *{extra_apps!r}]\n"
            f"MIGRATION_MODULES = {modules!r}\n"
        )

    def add_embeddings_migration(name: str, body: str):
        package = tmp_path / "extra_embeddings_migrations"
        if not package.exists():
            shutil.copytree(settings.BASE_DIR / "embeddings" / "migrations", package, ignore=shutil.ignore_patterns("__pycache__"))
        # The new migration follows the newest one on disk.
        latest = max(path.stem for path in package.glob("[0-9][0-9][0-9][0-9]_*.py"))
        (package / f"{name}.py").write_text(textwrap.dedent(body).replace("LATEST", latest))
        modules["embeddings"] = "extra_embeddings_migrations"
        write_settings()

    def add_app(app: str, migrations: dict[str, str]):
        folder = tmp_path / app / "migrations"
        folder.mkdir(parents=True)
        (tmp_path / app / "__init__.py").write_text("")
        (folder / "__init__.py").write_text("")
        for name, body in migrations.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(body))
        extra_apps.append(app)
        write_settings()

    write_settings()

    def run(*args, database):
        return manage(
            *args,
            env={
                "PYTHONPATH": f"{tmp_path}:{settings.BASE_DIR}",
                "DJANGO_SETTINGS_MODULE": "guard_settings",
                "DATABASE_URL": database["url"],
                "MIGRATION_DATABASE_URL": database["owner_url"],
            },
        )

    run.add_embeddings_migration = add_embeddings_migration
    run.add_app = add_app
    run.path = tmp_path
    return run


def seed_embeddings(database) -> None:
    """A user's project with a live snapshot of three chunks and their vectors, plus the incident:
    a vector column added to the chunk table by raw SQL, outside the models."""
    with psycopg.connect(autocommit=True, **database["connect"]) as conn:
        user = conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) "
            "VALUES ('', false, 'alice', '', '', '', false, true, now()) RETURNING id"
        ).fetchone()[0]
        project = conn.execute(
            "INSERT INTO projects_project (uuid, owner_id, name, repository, sync_status, created_at, updated_at) "
            "VALUES (gen_random_uuid(), %s, 'web', 'alice/web', 'synced', now(), now()) RETURNING id",
            [user],
        ).fetchone()[0]
        sync = conn.execute(
            "INSERT INTO project_syncs (uuid, project_id, repository_url, branch, live_commit, live_generation, embedding_model, "
            "auto_sync, created_at, updated_at) VALUES (gen_random_uuid(), %s, 'https://github.com/alice/web.git', 'main', "
            "'abc', 1, 'all-MiniLM-L6-v2', false, now(), now()) RETURNING id",
            [project],
        ).fetchone()[0]
        file = conn.execute(
            "INSERT INTO embeddings_sourcefile (project_id, project_sync_id, path, blob_sha, size_bytes, language, skip_reason, "
            "born_generation) VALUES (%s, %s, 'app.py', 'b1', 10, 'python', '', 1) RETURNING id",
            [project, sync],
        ).fetchone()[0]
        model = conn.execute("SELECT id FROM embeddings_embeddingmodel WHERE name = 'all-MiniLM-L6-v2'").fetchone()[0]
        for n in range(3):
            text = f"def f{n}(): pass\n"
            conn.execute(
                "INSERT INTO embeddings_chunk (file_id, project_id, ordinal, start_line, end_line, content_hash, text) "
                "VALUES (%s, %s, %s, 1, 1, %s, %s)",
                [file, project, n, sha256(text), text],
            )
            conn.execute(
                "INSERT INTO embeddings_vector (model_id, tenant_id, content_hash, embedding, created_at) "
                "VALUES (%s, %s, %s, %s::vector, now())",
                [model, user, sha256(text), str(unit_vector(n))],
            )
        conn.execute("ALTER TABLE embeddings_chunk ADD COLUMN embedding vector(3)")
        conn.execute("UPDATE embeddings_chunk SET embedding = ARRAY[ordinal, 1, 2]::real[]::vector")


def applied(database, app, name) -> bool:
    with psycopg.connect(**database["connect"]) as conn:
        return conn.execute("SELECT 1 FROM django_migrations WHERE app = %s AND name = %s", [app, name]).fetchone() is not None


def hand_added_vectors(database) -> int:
    with psycopg.connect(**database["connect"]) as conn:
        return conn.execute("SELECT count(embedding) FROM embeddings_chunk").fetchone()[0]


ADD_CHUNK_FIELDS = """
    from django.db import migrations, models

    class Migration(migrations.Migration):
        dependencies = [("embeddings", "LATEST")]
        operations = [
            migrations.AddField("chunk", "token_count", models.IntegerField(null=True)),
            migrations.AlterField("chunk", "text", models.TextField(blank=True)),
        ]
"""

DROP_VECTOR_COLUMN = """
    from django.db import migrations

    class Migration(migrations.Migration):
        dependencies = [("embeddings", "LATEST")]
        operations = [migrations.RemoveField("vector", "embedding")]
"""


def test_it_keeps_a_hand_added_vector_column_through_an_app_change(project_dir, scratch_db):
    assert project_dir("migrate", database=scratch_db).returncode == 0
    seed_embeddings(scratch_db)
    report = project_dir.path / "before.json"
    assert project_dir("check_embeddings", "--save", str(report), database=scratch_db).returncode == 0

    project_dir.add_embeddings_migration("9001_chunk_token_count", ADD_CHUNK_FIELDS)
    # --skip-checks: this test app change exists only in migrations, not in the models.
    result = project_dir("migrate", "--skip-checks", database=scratch_db)

    assert result.returncode == 0, result.stderr
    assert applied(scratch_db, "embeddings", "9001_chunk_token_count")
    assert "Embeddings verified: all 6 vectors that existed before migrate are intact." in result.stdout
    assert hand_added_vectors(scratch_db) == 3
    against = project_dir("check_embeddings", "--against", str(report), database=scratch_db)
    assert against.returncode == 0, against.stderr


def test_it_refuses_a_migration_that_drops_the_vector_column(project_dir, scratch_db):
    assert project_dir("migrate", database=scratch_db).returncode == 0
    seed_embeddings(scratch_db)
    project_dir.add_embeddings_migration("9001_remove_vector_embedding", DROP_VECTOR_COLUMN)

    result = project_dir("migrate", database=scratch_db)

    assert result.returncode == 1
    assert len(error_lines(result)) == 1, result.stderr
    [line] = error_lines(result)
    assert "embeddings.9001_remove_vector_embedding would drop column embeddings_vector.embedding" in line
    assert "--allow-destructive embeddings.9001_remove_vector_embedding" in line
    assert not applied(scratch_db, "embeddings", "9001_remove_vector_embedding")
    check = project_dir("check", database=scratch_db)
    assert check.returncode == 1
    assert "nyxsync.E001" in check.stderr and "drop column embeddings_vector.embedding" in check.stderr


def test_it_refuses_raw_sql_that_drops_a_vector_column_the_models_do_not_know(project_dir, scratch_db):
    assert project_dir("migrate", database=scratch_db).returncode == 0
    with psycopg.connect(autocommit=True, **scratch_db["connect"]) as conn:
        conn.execute("ALTER TABLE projects_project ADD COLUMN summary_embedding vector(3)")
    project_dir.add_app("cleanupapp", {"0001_drop_summary": """
        from django.db import migrations

        class Migration(migrations.Migration):
            dependencies = [("projects", "0001_initial")]
            operations = [migrations.RunSQL('ALTER TABLE "projects_project" DROP COLUMN "summary_embedding"')]
    """})

    result = project_dir("migrate", database=scratch_db)

    assert result.returncode == 1
    assert "cleanupapp.0001_drop_summary would drop column projects_project.summary_embedding" in error_lines(result)[0]
    assert not applied(scratch_db, "cleanupapp", "0001_drop_summary")


def test_an_explicit_allowance_applies_it_and_the_verification_reports_the_loss(project_dir, scratch_db):
    assert project_dir("migrate", database=scratch_db).returncode == 0
    seed_embeddings(scratch_db)
    project_dir.add_embeddings_migration("9001_remove_vector_embedding", DROP_VECTOR_COLUMN)

    result = project_dir("migrate", "--skip-checks", "--allow-destructive", "embeddings.9001_remove_vector_embedding", database=scratch_db)

    assert result.returncode == 1
    assert len(error_lines(result)) == 1, result.stderr
    [line] = error_lines(result)
    assert line == "CommandError: embeddings changed during migrate: model all-MiniLM-L6-v2: 3 -> 0 vectors; project alice/web (all-MiniLM-L6-v2): 3 live chunks lost their vectors"
