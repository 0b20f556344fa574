"""Base settings. Every value comes from the environment; the defaults let a fresh checkout run
on its embedded services (as a development install) and are strict for a deployment, which names
its database (DEBUG off, secure cookies, no plain-text git hosts).
"""

import os
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from nyxsync import embedded
from nyxsync.crypto import generate_key, parse_keys
from nyxsync.deferred_imports import defer_package_body

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()


def _secret(name: str, *, default=None):
    """A secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    if env.str(f"{name}_FILE", default=""):
        try:
            return Path(env.str(f"{name}_FILE")).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {exc.filename}: {exc.strerror}") from None
    return env.str(name, default=default)


def _dev_secret_key() -> str:
    # A fresh checkout gets a random key, made once and kept beside its embedded data.
    path = embedded.home() / "secret_key"
    if not path.exists():
        from django.core.management.utils import get_random_secret_key

        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


def _dev_encryption_key() -> str:
    # Like _dev_secret_key, but made atomically: a key two processes made at once would leave one
    # of them with secrets the other cannot read. Production sets NYXSYNC_ENCRYPTION_KEYS.
    path = embedded.home() / "encryption_key"
    if not path.exists():
        draft = path.with_name(f"encryption_key.{os.getpid()}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(generate_key())
        try:
            os.link(draft, path)  # fails if another process was first; its key wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def _redis_settings(url: str) -> dict:
    """redis-py keyword arguments (as django-eventstream wants them) from a redis:// or unix:// URL."""
    parts = urlsplit(url)
    db = int(parse_qs(parts.query).get("db", ["0"])[0])
    if parts.scheme == "unix":
        return {"unix_socket_path": parts.path, "db": db}
    if parts.scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(f"REDIS_URL: unsupported scheme {parts.scheme!r} (use redis://, rediss:// or unix://)")
    path_db = parts.path.strip("/")
    config = {"host": parts.hostname or "localhost", "port": parts.port or 6379, "db": int(path_db or db)}
    if parts.password:
        config["password"] = parts.password
    if parts.username:
        config["username"] = parts.username
    if parts.scheme == "rediss":
        config["ssl"] = True
    return config


def _celery_url(redis: dict) -> str:
    if "unix_socket_path" in redis:
        return f"redis+socket://{redis['unix_socket_path']}?virtual_host={redis['db']}"
    return REDIS_URL


# A checkout on its embedded services (no DATABASE_URL) is a development install: `make run`, every
# `manage.py` command beside it and the benches share one set of defaults there (DEBUG on, so git://
# and plain http:// on 127.0.0.1, and cookies over http). A deployment names its database and keeps
# the strict defaults; production.py holds them whatever the environment says.
EMBEDDED_SERVICES = not env.str("DATABASE_URL", default="")
NYXSYNC_EMBEDDED_POSTGRES = EMBEDDED_SERVICES
NYXSYNC_EMBEDDED_REDIS = not env.str("REDIS_URL", default="")
DEBUG = env.bool("DEBUG", default=EMBEDDED_SERVICES)
SECRET_KEY = _secret("SECRET_KEY", default="") or _dev_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Django needs django-eventstream's models and migrations only; its package body (views, GRIP,
# JWT: about a fifth of a command's start) runs where a page or the admin first uses it.
defer_package_body("django_eventstream")
INSTALLED_APPS = [
    # Our apps come first: their migrate/flush commands (the guarded ones) win over Django's.
    "repositories",
    "embeddings",
    "projects",
    "syncs",
    "agents",
    "nyxsync",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens, stored as hashes with an optional expiry (nyxsync.api_auth).
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_eventstream",
    # Failed logins counted per username and address (pages and admin): AXES_* below.
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: the request's queries act for its user (row-level security).
    "nyxsync.middleware.TenancyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username and address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "nyxsync.urls"
ASGI_APPLICATION = "nyxsync.asgi.application"
WSGI_APPLICATION = "nyxsync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------
# DATABASE_URL set: that server (it must have pgvector). Unset: the embedded server of this checkout,
# which its engine starts at the first connection (nyxsync.backends.postgresql): loading the
# settings starts nothing, so `manage.py check` needs no server.
# The app's role is subject to row-level security (nyxsync.tenancy); migrations run as the
# owner role, which bypasses it: MIGRATION_DATABASE_URL (credentials, host and port of it are
# used), or the embedded server's owner role.
if not EMBEDDED_SERVICES:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    if not DATABASES["default"].get("ENGINE", "").endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_URL: nyxsync needs PostgreSQL with pgvector (postgres://...)")
    NYXSYNC_MIGRATION_DATABASE = env.db_url("MIGRATION_DATABASE_URL") if env.str("MIGRATION_DATABASE_URL", default="") else None
else:
    DATABASES = {"default": embedded.postgres_settings()}
    NYXSYNC_MIGRATION_DATABASE = {"USER": embedded.OWNER_ROLE, "PASSWORD": ""}
# The role the app connects as: migrate grants it what it needs on the tables it creates.
NYXSYNC_APP_DB_USER = DATABASES["default"].get("USER", "")
# Whom the database acts for when no code said (nyxsync.tenancy): nobody, so a forgotten scope
# shows no tenant's rows. manage.py commands act for the system unless given --as.
NYXSYNC_TENANCY_DEFAULT = "nobody"
# A connection per request, closed at its end: under ASGI, requests run in threads of their own and
# a kept connection outlives its thread (Django advises 0 there). Put a pooler (PgBouncer) in front
# of a managed database rather than keeping connections here.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
# Connection and statement limits: a stuck query must not hang a request or a worker forever.
# Celery workers allow longer statements (nyxsync.celery); migrations none (nyxsync.db).
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
# The ASGI web server runs each request in a thread of its own: it borrows connections from a
# bounded pool (psycopg_pool), so a burst of requests waits for a connection (DATABASE_POOL_TIMEOUT
# seconds at most) instead of taking every one the database has (without it, 150 streams opened at
# once got 67 answers 500: the database was out of connections). nyxsync.asgi turns it on; workers
# (prefork children must not inherit a pool) and commands connect directly.
# What a burst leaves idle, psycopg_pool closes one connection per max_idle seconds, down to
# min_size: a small pool and a short max_idle give the database back within seconds (7 surplus
# connections in 14 s; 20 and 60 s held 19 for 19 minutes). Measured side by side (150 interleaved
# searches, 2 cores at load 3.6-8): search p50/p95 the same with 8 connections as with 20 and with
# max_idle 2 s as with 60, sequential or 4 clients at once; a reconnect costs about 5 ms here.
if env.bool("NYXSYNC_DATABASE_POOL", default=False):
    from nyxsync.tenancy import reset_pooled_connection

    DATABASES["default"]["OPTIONS"]["pool"] = {
        # A connection back in the pool acts for nobody (row-level security), set in the pool's
        # thread after the response: the next request need not send it.
        "reset": reset_pooled_connection,
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=8),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10),
        "max_idle": env.float("DATABASE_POOL_MAX_IDLE", default=2),
    }
NYXSYNC_STATEMENT_TIMEOUT_SECONDS = env.int("DATABASE_STATEMENT_TIMEOUT", default=30)
NYXSYNC_WORKER_STATEMENT_TIMEOUT_SECONDS = env.int("DATABASE_WORKER_STATEMENT_TIMEOUT", default=600)
DATABASES["default"]["OPTIONS"]["options"] = f"-c statement_timeout={NYXSYNC_STATEMENT_TIMEOUT_SECONDS * 1000}"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: Celery broker and SSE fan-out -----------------------------------------------------
# REDIS_URL unset: the embedded Redis of this checkout, started by the first broker connection
# (nyxsync.celery), cache use (nyxsync.backends.redis_cache) or web server (nyxsync.asgi), not here.
REDIS_URL = env.str("REDIS_URL", default="") or embedded.redis_url()
REDIS = _redis_settings(REDIS_URL)
EVENTSTREAM_REDIS = REDIS
# Shared by every web process: API throttles count per user across all of them.
CACHE_BACKEND = "nyxsync.backends.redis_cache.RedisCache" if NYXSYNC_EMBEDDED_REDIS else "django.core.cache.backends.redis.RedisCache"
CACHES = {"default": {"BACKEND": CACHE_BACKEND, "LOCATION": REDIS_URL, "KEY_PREFIX": "nyxsync"}}
EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
# Who may read which live-progress channel (project-<uuid>, operators).
EVENTSTREAM_CHANNELMANAGER_CLASS = "syncs.channels.ChannelManager"
# Open live streams per web process, in all and per user (nyxsync.streams): the excess gets 503 and
# 429. A stream holds no database connection while it waits, so these bound memory and sockets.
NYXSYNC_STREAMS_MAX = env.int("NYXSYNC_STREAMS_MAX", default=500)
NYXSYNC_STREAMS_PER_USER = env.int("NYXSYNC_STREAMS_PER_USER", default=10)
# How often an open stream asks again whether its reader may still read it (as often as the keep-alive).
NYXSYNC_STREAM_RECHECK_SECONDS = env.float("NYXSYNC_STREAM_RECHECK_SECONDS", default=20)

CELERY_BROKER_URL = _celery_url(REDIS)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Deployments (or benchmarks) sharing one Redis keep apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3 * 3600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 300
# A sync may run for hours: a task is redelivered only if it was not acked for longer than this.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.home() / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Fails runs whose worker died and re-sends tasks a broker lost (syncs.services.sync_runs_sweep).
    "sweep-sync-runs": {"task": "syncs.sweep", "schedule": 60.0},
    # Scheduled syncs: checks the branches that are due (syncs.schedule); a stale tick is dropped.
    "check-scheduled-syncs": {"task": "syncs.check_scheduled", "schedule": 60.0, "options": {"expires": 55}},
    # Moves pending vectors into the HNSW index (embeddings.vectors) if a swap's own call was lost.
    "index-vectors": {"task": "embeddings.index_vectors", "schedule": 60.0, "options": {"expires": 55}},
}
# One call of the indexer works this long, then queues the next behind whatever came meanwhile
# (syncs.tasks.index_vectors): a sync triggered during a long backlog waits at most this for a worker.
NYXSYNC_INDEX_SLICE_SECONDS = env.float("NYXSYNC_INDEX_SLICE_SECONDS", default=10)

# --- auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Without collectstatic (a fresh checkout), WhiteNoise serves straight from the apps' folders.
WHITENOISE_USE_FINDERS = not STATIC_ROOT.exists()
if WHITENOISE_USE_FINDERS:
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

# --- security (production defaults; DEBUG relaxes the HTTPS-only ones) ------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None

# Content-Security-Policy (django-csp): scripts, styles and connections from this origin only
# (pages, admin, SSE); nothing may frame the pages. The pages carry no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Login throttling (django-axes, failures kept in its table, listed in the admin): after
# AXES_FAILURE_LIMIT failed logins of one username from one address, that pair is refused (429)
# for AXES_COOLOFF_TIME; `manage.py axes_reset_username NAME` lifts it at once.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_DISABLE_ACCESS_LOG = True  # successful logins are not recorded
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address: the connection's own, or the proxy's X-Forwarded-For behind one (never a
# header a client could send straight to us).
if env.bool("BEHIND_TLS_PROXY", default=False):
    AXES_IPWARE_PROXY_COUNT = 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_VERBOSE = False

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's own, plus switching the request's database context to the user they find.
        "nyxsync.api_auth.TokenAuthentication",
        "nyxsync.api_auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # One error body for every API error (nyxsync.api_errors).
    "EXCEPTION_HANDLER": "nyxsync.api_errors.api_exception_handler",
    # Per user, on the operations that cost workers (projects.apis: SyncTriggerThrottle, SearchThrottle).
    "DEFAULT_THROTTLE_RATES": {
        "sync_trigger": env.str("API_THROTTLE_SYNC_TRIGGER", default="30/minute"),
        "search": env.str("API_THROTTLE_SEARCH", default="120/minute"),
        "branch_list": env.str("API_THROTTLE_BRANCH_LIST", default="30/minute"),
    },
}
# API tokens (django-rest-knox): only a SHA-512 digest is stored; the key is shown once. No expiry
# unless the client asks for one (or API_TOKEN_MAX_DAYS caps it).
REST_KNOX = {"TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Token", "AUTO_REFRESH": False}
NYXSYNC_API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=0)
SPECTACULAR_SETTINGS = {
    "TITLE": "nyxsync API",
    "DESCRIPTION": "Keep a codebase's embeddings in sync with its Git branches.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Lists each operation of a URL with its own view (nyxsync.api.methods).
    "DEFAULT_GENERATOR_CLASS": "nyxsync.api.ApiSchemaGenerator",
}

# --- MCP server for coding agents (agents/: /mcp/ and `manage.py mcp`) -------------------------
# How long the `sync` tool follows the run it started (with progress) before it returns.
NYXSYNC_MCP_SYNC_WAIT_SECONDS = env.int("NYXSYNC_MCP_SYNC_WAIT_SECONDS", default=120)

# --- GitHub -----------------------------------------------------------------------------------
# GitHub (or GitHub Enterprise Server): GITHUB_URL is the web and git host (OAuth pages,
# clones, owner/name repositories), GITHUB_API_URL its REST API.
GITHUB_URL = env.str("GITHUB_URL", default="https://github.com").rstrip("/")
GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com")
# The deployment's token: sent only to GitHub's REST API, only for repositories GitHub reports
# public, only to raise rate limits (never to git, never for a private repository).
GITHUB_TOKEN = _secret("GITHUB_TOKEN", default="")
# "Connect GitHub" (a GitHub OAuth App; its callback URL is <site>/account/github/callback/).
GITHUB_OAUTH_CLIENT_ID = env.str("GITHUB_OAUTH_CLIENT_ID", default="")
GITHUB_OAUTH_CLIENT_SECRET = _secret("GITHUB_OAUTH_CLIENT_SECRET", default="")

# --- nyxsync ----------------------------------------------------------------------------------
NYXSYNC_HOME = embedded.home()
# Fernet keys of the secrets stored in the database (nyxsync.crypto): the first encrypts, all
# decrypt. Without the variable, a fresh checkout makes one key once, beside its embedded data.
NYXSYNC_ENCRYPTION_KEYS = parse_keys(_secret("NYXSYNC_ENCRYPTION_KEYS", default="") or _dev_encryption_key())
# Tables whose rows are embeddings or what they are keyed by: the guarded migrate refuses
# destructive operations on them (any table with a vector column is protected as well).
NYXSYNC_PROTECTED_TABLES = ["embeddings_vector", "embeddings_chunk", "embeddings_sourcefile", "project_syncs"]
# A non-concurrent index build on a protected table with more rows than this is refused.
NYXSYNC_GUARD_LARGE_TABLE_ROWS = env.int("NYXSYNC_GUARD_LARGE_TABLE_ROWS", default=10_000)
# flush/sqlflush refuse to run against a database that holds vectors unless this is True.
NYXSYNC_ALLOW_FLUSH = False

# Fetching (repositories.git): a bare cache per repository; hard limits on time and size.
NYXSYNC_GIT_CACHE_DIR = Path(env.str("NYXSYNC_GIT_CACHE_DIR", default=str(embedded.home() / "git-cache")))
NYXSYNC_GIT_TIMEOUT_SECONDS = env.int("NYXSYNC_GIT_TIMEOUT_SECONDS", default=600)
NYXSYNC_GIT_MAX_REPO_BYTES = env.int("NYXSYNC_GIT_MAX_REPO_BYTES", default=2 * 1024**3)
# What one repository may cost (repositories.git, syncs.pipeline): a branch over a limit fails its
# run with one line naming the setting; git's output and memory are capped so a hostile repository
# cannot exhaust the worker.
NYXSYNC_MAX_FILES = env.int("NYXSYNC_MAX_FILES", default=100_000)
NYXSYNC_MAX_CHUNKS = env.int("NYXSYNC_MAX_CHUNKS", default=1_000_000)
NYXSYNC_GIT_MAX_REFS = env.int("NYXSYNC_GIT_MAX_REFS", default=10_000)
NYXSYNC_GIT_MAX_OUTPUT_BYTES = env.int("NYXSYNC_GIT_MAX_OUTPUT_BYTES", default=256 * 1024**2)
NYXSYNC_GIT_MAX_MEMORY_BYTES = env.int("NYXSYNC_GIT_MAX_MEMORY_BYTES", default=4 * 1024**3)
# Files larger than this are skipped (counted as "too_large").
NYXSYNC_MAX_FILE_BYTES = env.int("NYXSYNC_MAX_FILE_BYTES", default=1_000_000)
# Repositories over git:// or plain http:// are accepted only on these hosts (local use and
# tests); https:// is accepted for public hosts. Private networks need the second setting.
NYXSYNC_INSECURE_GIT_HOSTS = env.list("NYXSYNC_INSECURE_GIT_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
NYXSYNC_ALLOW_PRIVATE_NETWORKS = env.bool("NYXSYNC_ALLOW_PRIVATE_NETWORKS", default=False)
# git ignores http_proxy/https_proxy of the environment (they would bypass the DNS checks above);
# a deployment whose egress goes through a proxy names it here, and that proxy must refuse private
# networks itself.
NYXSYNC_GIT_PROXY = env.str("NYXSYNC_GIT_PROXY", default="")

# Chunking and embedding (embeddings.chunking, embeddings.backends).
# 800 characters of code keep 94% of chunks inside the model's 256-token window (1000: 78%;
# bench/chunking.py), at about a quarter more chunks; the int8 model's CPU time per character of
# code is the same from 600 to 1,200 (bench/chunk_size.py): larger chunks only leave more text
# past the window (1.2% of the characters at 800, 4.3% at 1,000, 9.3% at 1,200) and re-embed
# more characters per changed function.
NYXSYNC_CHUNK_MAX_CHARS = env.int("NYXSYNC_CHUNK_MAX_CHARS", default=800)
# The model of new branches. all-MiniLM-L6-v2-int8-r2 is all-MiniLM-L6-v2 quantized to signed
# 7-bit weights (onnx_build's recipe 2), on ONNX Runtime's VNNI int8 kernels: 2.4x torch's
# chunks/s (bench/model.py), within 0.4 point of torch's nDCG@10 on CoSQA (bench/retrieval.py),
# the same vectors to 0.9999 cosine on CPUs without VNNI, and no torch in the process. A branch
# keeps the model it was synced with until `reembed` moves it (a change of this setting moves no
# existing branch).
NYXSYNC_EMBEDDING_MODEL = env.str("NYXSYNC_EMBEDDING_MODEL", default="all-MiniLM-L6-v2-int8-r2")
NYXSYNC_EMBEDDING_BATCH_SIZE = env.int("NYXSYNC_EMBEDDING_BATCH_SIZE", default=32)
# Torch threads per worker process; 0: one per core. With several workers on one machine, give
# each the cores it owns (two workers on two cores: 1 each).
NYXSYNC_TORCH_THREADS = env.int("NYXSYNC_TORCH_THREADS", default=0)
# Worker processes load the default model as they start, so the first sync does not wait.
NYXSYNC_WARM_MODEL_ON_START = env.bool("NYXSYNC_WARM_MODEL_ON_START", default=True)
# Fan-out (embeddings.fanout): a run with at least this many batches to embed asks up to
# NYXSYNC_FANOUT_HELPERS other workers to pull batches beside it; a claimed batch whose worker
# is silent for NYXSYNC_FANOUT_LEASE_SECONDS goes to another.
NYXSYNC_FANOUT_MIN_BATCHES = env.int("NYXSYNC_FANOUT_MIN_BATCHES", default=4)
NYXSYNC_FANOUT_HELPERS = env.int("NYXSYNC_FANOUT_HELPERS", default=4)
NYXSYNC_FANOUT_LEASE_SECONDS = env.int("NYXSYNC_FANOUT_LEASE_SECONDS", default=120)
# A run stages its files in batches of about this many chunks (or files), each its own short
# transaction; a diff of more files than one batch is written by a thread of its own while the
# run chunks the next batch (syncs.staging).
NYXSYNC_STAGE_BATCH_CHUNKS = env.int("NYXSYNC_STAGE_BATCH_CHUNKS", default=2_000)
NYXSYNC_STAGE_BATCH_FILES = env.int("NYXSYNC_STAGE_BATCH_FILES", default=500)
# Vectors are shared within a tenant (a project owner and its projects). True: a run may also
# copy another tenant's vector of the same text instead of embedding it, which saves model time
# but lets a run's counters (chunks embedded, reused) tell a tenant whether anyone else holds a
# text. Only for a deployment whose tenants trust each other (one company, say).
NYXSYNC_SHARE_VECTORS_ACROSS_TENANTS = env.bool("NYXSYNC_SHARE_VECTORS_ACROSS_TENANTS", default=False)
# Search (embeddings.search): scopes up to this many chunks are scanned exactly; larger ones go
# through the HNSW index, with this ef_search (higher: better recall, slower).
NYXSYNC_SEARCH_EXACT_MAX_CHUNKS = env.int("NYXSYNC_SEARCH_EXACT_MAX_CHUNKS", default=5_000)
NYXSYNC_SEARCH_EF = env.int("NYXSYNC_SEARCH_EF", default=300)
# An OpenAI-compatible embeddings endpoint, used for models whose backend is "openai".
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="https://api.openai.com/v1")
OPENAI_API_KEY = _secret("OPENAI_API_KEY", default="")
OPENAI_EMBEDDING_MODEL = env.str("OPENAI_EMBEDDING_MODEL", default="text-embedding-3-small")
OPENAI_EMBEDDING_DIMENSIONS = env.int("OPENAI_EMBEDDING_DIMENSIONS", default=1536)
OPENAI_TIMEOUT_SECONDS = env.float("OPENAI_TIMEOUT_SECONDS", default=60.0)

# --- logging: structured (one JSON object a line) or readable text ----------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "nyxsync.logs.JsonFormatter"},
        "text": {"()": "nyxsync.logs.TextFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": env.str("LOG_FORMAT", default="text")},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "nyxsync": {"level": LOG_LEVEL},
        "repositories": {"level": LOG_LEVEL},
        "projects": {"level": LOG_LEVEL},
        "syncs": {"level": LOG_LEVEL},
        "embeddings": {"level": LOG_LEVEL},
        "django.request": {"level": "ERROR"},
    },
}
