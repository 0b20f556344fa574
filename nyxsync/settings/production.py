"""Production settings: base plus what a deployment must not run without. Use with
DJANGO_SETTINGS_MODULE=nyxsync.settings.production; `manage.py check --deploy --fail-level WARNING`
passes with them (CI runs it: `make lint`).

Refuses to start without SECRET_KEY and NYXSYNC_ENCRYPTION_KEYS from the environment (or their
_FILE): the base's fallbacks make keys on the machine, and processes on different machines would
then sign and encrypt with different keys. HTTPS only: the redirect, HSTS and secure cookies are
on; a TLS proxy in front sets BEHIND_TLS_PROXY=true (base) so Django sees the original scheme.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import _secret, env

for _name in ("SECRET_KEY", "NYXSYNC_ENCRYPTION_KEYS"):
    if not _secret(_name, default=""):
        raise ImproperlyConfigured(f"{_name} (or {_name}_FILE) must be set in production")

DEBUG = False
# Whatever the base derived from a development install: no plain-text git hosts unless named.
NYXSYNC_INSECURE_GIT_HOSTS = env.list("NYXSYNC_INSECURE_GIT_HOSTS", default=[])
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The health endpoint answers the container's and the load balancer's plain-HTTP probes.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preload only tells browsers the site may be put on their built-in list; the listing itself is
# a separate, deliberate submission to hstspreload.org.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
