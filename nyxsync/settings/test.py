"""Test settings: the same embedded services, a test database (pytest-django's `test_nyxsync`)
and a Redis database of its own, so the suite never touches the data of `make run`."""

from .base import *  # noqa: F401,F403
from .base import REDIS, _celery_url, embedded, env

if not env.str("REDIS_URL", default=""):
    REDIS_URL = embedded.redis_url(db=1)
    REDIS = {**REDIS, "db": 1}
    EVENTSTREAM_REDIS = REDIS
    CELERY_BROKER_URL = CELERY_RESULT_BACKEND = _celery_url(REDIS)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
NYXSYNC_ALLOW_FLUSH = True  # TransactionTestCase empties its database with flush
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.home() / "celerybeat-schedule-test")
NYXSYNC_INSECURE_GIT_HOSTS = ["127.0.0.1", "localhost"]
