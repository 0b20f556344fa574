"""/healthz: is each part this process depends on reachable? JSON; 200 if all are, else 503.

Everyone (a load balancer, a container probe) gets the status and `ok`; what each part said
(versions, worker names, errors) only staff and requests from this host itself, whose address is
loopback with no proxy in between."""

import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return {"ok": row is not None, "pgvector": row[0] if row else None}


def _check_redis() -> dict:
    import redis
    from django.conf import settings

    redis.Redis(**settings.REDIS, socket_timeout=2, socket_connect_timeout=2).ping()
    return {"ok": True}


def _check_worker() -> dict:
    from nyxsync.celery import app

    # limit=1: answer as soon as one worker replies instead of waiting out the timeout.
    replies = app.control.ping(timeout=1.0, limit=1) or []
    return {"ok": bool(replies), "workers": sorted(name for reply in replies for name in reply)}


CHECKS = {"database": _check_database, "redis": _check_redis, "worker": _check_worker}


@never_cache
@require_GET
def healthz(request):
    report = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            report[name] = check()
        except Exception as exc:  # a health check reports failures, it does not raise them
            report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
        report[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    ok = all(part["ok"] for part in report.values())
    status = 200 if ok else 503
    if not _may_see_details(request):
        return JsonResponse({"ok": ok}, status=status)
    return JsonResponse({"ok": ok, **report}, status=status)


def _may_see_details(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    local = request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1")
    return local and "HTTP_X_FORWARDED_FOR" not in request.META and "HTTP_FORWARDED" not in request.META
