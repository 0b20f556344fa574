"""Container health checks: `python -m nyxsync.healthcheck web|worker|beat` exits 0 when healthy.

web: the ASGI server answers /healthz (any status: a 503 naming another part is still a live web
server). worker: this host's Celery worker answers a ping. beat: the broker is reachable."""

import os
import socket
import sys
import urllib.error
import urllib.request


def web() -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz", timeout=5)
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False
    return True


def worker() -> bool:
    from nyxsync.celery import app

    replies = app.control.ping(timeout=5.0) or []
    return any(name.endswith(f"@{socket.gethostname()}") for reply in replies for name in reply)


def beat() -> bool:
    from nyxsync.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
    return True


CHECKS = {"web": web, "worker": worker, "beat": beat}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CHECKS:
        sys.exit(f"usage: python -m nyxsync.healthcheck {'|'.join(CHECKS)}")
    if sys.argv[1] != "web":
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nyxsync.settings")
        django.setup()
    sys.exit(0 if CHECKS[sys.argv[1]]() else 1)
