"""The embedded services of a fresh checkout, in a folder of their own (never the run data)."""

import os
import subprocess
import sys
import textwrap

from django.conf import settings

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
