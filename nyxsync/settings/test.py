"""Test settings: the same embedded services, a test database of the run's own and a Redis
database apart, so the suite never touches the data of `make run`."""

import os

from .base import *  # noqa: F401,F403
from .base import CACHE_BACKEND, DATABASES, REDIS, _celery_url, embedded, env

# Test runs may overlap on one machine (several developers or checkouts sharing the embedded
# servers): each pytest process gets its own test database and Celery queue. Its subprocesses
# (workers, web servers) inherit the id through the environment.
TEST_RUN_ID = os.environ.setdefault("NYXSYNC_TEST_RUN_ID", str(os.getpid()))
DATABASES["default"]["TEST"] = {"NAME": f"test_nyxsync_{TEST_RUN_ID}"}
CELERY_TASK_DEFAULT_QUEUE = f"nyxsync-test-{TEST_RUN_ID}"

# Redis databases 1..15, one per pytest-xdist worker: each has its own Celery queue.
_REDIS_DB = 1 + int(env.str("PYTEST_XDIST_WORKER", default="gw0").removeprefix("gw") or 0) % 15

if not env.str("REDIS_URL", default=""):
    REDIS_URL = embedded.redis_url(db=_REDIS_DB)
    REDIS = {**REDIS, "db": _REDIS_DB}
    EVENTSTREAM_REDIS = REDIS
    CELERY_BROKER_URL = CELERY_RESULT_BACKEND = _celery_url(REDIS)
# A key space per run: throttle counts of an earlier run (same user ids) must not carry over.
CACHES = {"default": {"BACKEND": CACHE_BACKEND, "LOCATION": REDIS_URL, "KEY_PREFIX": f"test-{TEST_RUN_ID}"}}

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
NYXSYNC_ALLOW_FLUSH = True  # TransactionTestCase empties its database with flush
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.home() / "celerybeat-schedule-test")
NYXSYNC_INSECURE_GIT_HOSTS = ["127.0.0.1", "localhost"]
NYXSYNC_WARM_MODEL_ON_START = False  # test workers load a model only when a test uses it

# Test databases are made and migrated as the owner role; tests/conftest.py then connects as the
# app's role, so row-level security is in force for everything the tests do.
if not env.str("DATABASE_URL", default=""):
    DATABASES["default"]["USER"] = embedded.OWNER_ROLE
    NYXSYNC_APP_DB_USER = embedded.APP_ROLE
# Whom code acts for when it did not say: nobody, as in production. Requests act for their user
# (the middleware), tasks for their project; a test acts for the system or a user only when it
# says so (tests/conftest.py: `as_system`, `as_owner`; factories write as the system).
NYXSYNC_TENANCY_DEFAULT = "nobody"
