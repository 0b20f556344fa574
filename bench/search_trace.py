"""Where the time of one warm search through the REST API goes, on the database bench/search_api.py
--keep left (nyxsync_bench_search): each tenant's queries sent in this process through Django's
test client (the web stack without the HTTP server), with the connection pool the web server uses,
and for each request its round trips to PostgreSQL and Redis with their times, and the time spent
in each part of the request (authentication, the throttle, the branches, the search, the rest).

    .venv/bin/python bench/search_trace.py [--queries 40] [--profile a|b] [--tenants ab]

--profile runs that tenant's queries once more under cProfile and prints the 25 functions with the
most time of their own and inside them. Figures only: nothing passes or fails.
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from common import cpu_name, setup_django


class Clock:
    """Seconds and calls per named part of the current request; round trips by kind."""

    def __init__(self):
        self.parts = defaultdict(float)
        self.calls = defaultdict(int)

    def wrap(self, owner, name: str, label: str):
        original = getattr(owner, name)
        clock = self

        def timed(*args, **kwargs):
            before = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                clock.parts[label] += time.perf_counter() - before
                clock.calls[label] += 1

        setattr(owner, name, timed)

    def reset(self):
        self.parts.clear()
        self.calls.clear()


def body(query: str, project: str) -> dict:
    return {"query": query, "k": 10, "project": project}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--profile", choices=["a", "b"])
    parser.add_argument("--tenants", default="ab", help="Whose searches: a, b or ab.")
    args = parser.parse_args()
    os.environ["NYXSYNC_DATABASE_POOL"] = "true"  # as the ASGI web server runs
    os.environ["API_THROTTLE_SEARCH"] = "100000/minute"
    os.environ.update(DEBUG="false", ALLOWED_HOSTS="testserver")  # as the bench's web server
    setup_django(
        Path(tempfile.mkdtemp(prefix="nyxsync-trace-")), "nyxsync_bench_search", model="hashing-256", reuse=True
    )
    print(f"CPU: {cpu_name()}; load average at start: {os.getloadavg()[0]:.1f}")

    import psycopg
    import redis.connection
    from django.contrib.auth import get_user_model
    from django.test import Client
    from knox.models import AuthToken
    from search_api import queries_for

    import embeddings.search as search_module
    import nyxsync.api as api
    import nyxsync.api_auth as api_auth
    import syncs.selectors as selectors
    from embeddings.apis import SearchApi
    from syncs.models import ProjectSync

    clock = Clock()
    # Round trips: every statement psycopg sends (Django's and the tenancy's own), every Redis command.
    clock.wrap(psycopg.Cursor, "execute", "sql")
    clock.wrap(redis.connection.AbstractConnection, "send_command", "redis send")
    clock.wrap(redis.connection.AbstractConnection, "read_response", "redis")
    # Parts of the request (each includes its round trips).
    clock.wrap(api_auth.TokenAuthentication, "authenticate", "part: authentication")
    clock.wrap(api.ScopedUserThrottle, "allow_request", "part: throttle")
    clock.wrap(selectors, "project_syncs_to_search", "part: branches (selector)")
    SearchApi.post.__globals__["project_syncs_to_search"] = selectors.project_syncs_to_search
    clock.wrap(search_module, "_groups", "part: search, branches by model")
    clock.wrap(search_module, "_vector_literal", "part: search, query vector")
    clock.wrap(search_module._Statement, "run", "part: search, statement")

    users = get_user_model()
    client = Client()
    for name in args.tenants:
        user = users.objects.get(username=f"tenant-{name}")
        _token, key = AuthToken.objects.create(user=user)  # beside the bench's own token
        sync = ProjectSync.objects.filter(project__owner=user, live_generation__gt=0).select_related("project").get()
        queries = queries_for(sync, args.queries)
        project = str(sync.project.uuid)
        headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
        for query in queries[:3]:
            client.post("/api/v1/search/", body(query, project), content_type="application/json", **headers)
        totals, cpu, per_part = [], [], defaultdict(list)
        for query in queries:
            clock.reset()
            before, cpu_before = time.perf_counter(), time.thread_time()
            response = client.post("/api/v1/search/", body(query, project), content_type="application/json", **headers)
            totals.append(time.perf_counter() - before)
            cpu.append(time.thread_time() - cpu_before)
            assert response.status_code == 200, response.content[:300]
            for label, seconds in clock.parts.items():
                per_part[label].append((seconds, clock.calls[label]))
        print(
            f"tenant {name.upper()} ({sync.live_chunk_count:,} chunks), {len(totals)} searches, load average {os.getloadavg()[0]:.1f}:"
        )
        print(
            f"  whole request (test client): median {statistics.median(totals) * 1000:.1f} ms, p95 {sorted(totals)[int(0.95 * (len(totals) - 1))] * 1000:.1f} ms"
        )
        print(f"  of which CPU time of this thread (Python): median {statistics.median(cpu) * 1000:.1f} ms")
        for label in sorted(per_part):
            values = per_part[label] + [(0.0, 0)] * (len(totals) - len(per_part[label]))
            print(
                f"  {label:34} median {statistics.median(v for v, _ in values) * 1000:6.2f} ms, "
                f"calls per request {statistics.median(c for _, c in values):.0f}"
            )
        if args.profile == name:
            profile = cProfile.Profile()
            profile.enable()
            for query in queries:
                client.post("/api/v1/search/", body(query, project), content_type="application/json", **headers)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
        _token.delete()


if __name__ == "__main__":
    main()
